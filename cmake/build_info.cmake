# Writes build_info.h at build time (not only at configure time), so
# --version and GET /version name the revision actually built.
# In: SRC (source dir), IN (template), OUT (header), RX_VERSION_IN.
execute_process(COMMAND git rev-parse --short=12 HEAD
                WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE RX_GIT_REVISION
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
# Not a git checkout (a container build's context leaves .git out): the
# revision may come from the environment (deploy/build.sh, RX_GIT_REVISION).
# Only a plain token is taken: it is pasted into a C string.
if(NOT RX_GIT_REVISION AND "$ENV{RX_GIT_REVISION}" MATCHES "^[0-9A-Za-z._+-]+$")
  set(RX_GIT_REVISION "$ENV{RX_GIT_REVISION}")
endif()
if(NOT RX_GIT_REVISION)
  set(RX_GIT_REVISION "unknown")
endif()
execute_process(COMMAND git status --porcelain --untracked-files=no
                WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE RX_DIRTY ERROR_QUIET)
if(RX_DIRTY)
  set(RX_GIT_REVISION "${RX_GIT_REVISION}-dirty")
endif()
string(TIMESTAMP RX_BUILD_TIME "%Y-%m-%dT%H:%M:%SZ" UTC)
set(PROJECT_VERSION ${RX_VERSION_IN})
# The time changes every build; only rewrite when the revision changed,
# so an unchanged tree does not relink.
if(EXISTS ${OUT})
  file(READ ${OUT} old)
  if(old MATCHES "RX_GIT_REVISION \"${RX_GIT_REVISION}\"")
    return()
  endif()
endif()
configure_file(${IN} ${OUT} @ONLY)
