#!/usr/bin/env node
// Checks the checkers: validate-spec accepts openapi.yaml; every line of
// samples/good.jsonl passes validate-responses; every line of
// samples/bad.jsonl (each breaks the contract in one way, named in "why")
// fails it. Last line "N passed, M failed".
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
let passed = 0;
let failed = 0;
const check = (ok, what) => {
  if (ok) passed++;
  else {
    failed++;
    console.log(`FAIL ${what}`);
  }
};
const node = (...args) =>
  spawnSync(process.execPath, args, { cwd: here, encoding: "utf8" });

const spec = node("validate-spec.mjs");
check(spec.status === 0, `validate-spec: ${spec.stdout}${spec.stderr}`);

const good = node("validate-responses.mjs", join("samples", "good.jsonl"));
check(good.status === 0, `good samples rejected:\n${good.stdout}`);

const badLines = readFileSync(join(here, "samples", "bad.jsonl"), "utf8").split("\n").filter((l) => l.trim());
const bad = node("validate-responses.mjs", join("samples", "bad.jsonl"));
check(bad.status === 1, "bad samples: validate-responses did not exit 1");
const failedLines = new Set([...bad.stdout.matchAll(/^FAIL [^:]+:(\d+):/gm)].map((m) => Number(m[1])));
badLines.forEach((l, i) => {
  check(failedLines.has(i + 1), `bad sample ${i + 1} (${JSON.parse(l).why}) was accepted`);
});
check(bad.stdout.trim().endsWith(`0 passed, ${badLines.length} failed`), "bad samples: wrong summary line");

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
