# Sourced by deploy/run.sh and tests/run.sh: installs, on Debian 12 as
# root, only the packages that are missing. Nothing else is fetched.
#
# rx_install_deps build        - what building needs (deploy/build.sh,
#                                the Dockerfile's build stage)
# rx_install_deps build test   - plus what the tests need

rx_install_deps() {
    # Configuring the tree also configures tests/, which needs cmocka and
    # python3, so they belong to the build set.
    local pkgs=(cmake gcc make pkg-config libmicrohttpd-dev libjansson-dev
        libpcre2-dev libcurl4-openssl-dev libexpat1-dev libssl-dev
        zlib1g-dev ca-certificates libcmocka-dev python3)
    local want
    for want in "$@"; do
        if [ "$want" = test ]; then
            pkgs+=(python3-yaml prometheus clang libclang-rt-14-dev valgrind)
            command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
            command -v npm >/dev/null 2>&1 || pkgs+=(npm)
        fi
    done
    local missing=() p
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q 'install ok installed' || missing+=("$p")
    done
    # Debian's own python3 is wanted even where another one is on PATH
    # (pyenv): the tests run with /usr/bin/python3, which sees python3-yaml.
    local filtered=("${missing[@]}")
    if [ ${#filtered[@]} -gt 0 ]; then
        echo "installing: ${filtered[*]}"
        if [ "$(id -u)" -ne 0 ]; then
            echo "missing packages and not root: ${filtered[*]}" >&2
            return 1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${filtered[@]}" >/dev/null
    fi
}
