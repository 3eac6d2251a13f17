#!/usr/bin/env node
// Validates recorded answers against openapi/openapi.yaml.
//
//   node validate-responses.mjs FILE [--spec openapi.yaml] [--coverage]
//
// FILE holds JSON lines, one answer each:
//   {"method":"POST","path":"/events?view=alerts","status":200,
//    "content_type":"application/json","body":"{...}",
//    "headers":{"X-Request-ID":"..."}}            (headers: optional)
// For each, the operation is found by method and path (the query string is
// ignored; {templates} match one segment), then its response by the exact
// status code, else the NXX range, else `default`. An unknown path may only
// be answered 404 (components/responses/NotFound), a known path with an
// undeclared method only 405 (components/responses/MethodNotAllowed). HEAD
// on a GET route is checked as GET, with an empty body.
// The Content-Type must be one the response declares (same type/subtype;
// every parameter the contract names, such as version=0.0.4, must be there
// with the same value; others such as charset are allowed). JSON bodies are
// validated with Ajv against the schema (JSON Schema 2020-12); YAML bodies
// must parse; a response without content must have an empty body. When the
// line carries headers, every header the response declares as required
// must be present and valid.
// Prints each failure, with --coverage the declared responses never seen,
// and a last line "N passed, M failed"; exits 1 on any failure.
import { readFileSync } from "node:fs";
import YAML from "yaml";
import {
  HTTP_METHODS,
  compileSchema,
  deref,
  formatAjvErrors,
  isJsonMediaType,
  loadSpec,
  makeAjv,
  parseMediaType,
  specPath,
} from "./lib.mjs";

const args = process.argv.slice(2);
let file = null;
let spec = specPath();
let coverage = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--spec") spec = args[++i];
  else if (args[i] === "--coverage") coverage = true;
  else if (!file) file = args[i];
  else usage();
}
if (!file) usage();

function usage() {
  console.error("usage: validate-responses.mjs FILE [--spec openapi.yaml] [--coverage]");
  process.exit(2);
}

const { doc } = loadSpec(spec);
const ajv = makeAjv(doc);
const validators = new Map(); // cache key -> compiled schema

const routes = Object.entries(doc.paths ?? {}).map(([path, item]) => {
  const rx = new RegExp(
    "^" + path.split(/(\{[^}]+\})/).map((s) => (s.startsWith("{") ? "[^/]+" : s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("") + "$",
  );
  return { path, item, rx, literal: !path.includes("{") };
});

function findRoute(path) {
  // A literal path wins over a template that matches it too.
  const hits = routes.filter((r) => r.rx.test(path));
  return hits.find((r) => r.literal) ?? hits[0] ?? null;
}

const seen = new Set();

function findResponse(rec) {
  const rawPath = String(rec.path ?? "");
  const path = rawPath.split("?")[0].split("#")[0] || "/";
  const method = String(rec.method ?? "").toLowerCase();
  const status = String(rec.status);
  const route = findRoute(path);
  if (!route) {
    if (status !== "404") return { error: `no path ${path} in the contract, and the answer is ${status}, not 404` };
    return { key: "notFound", where: "components/responses/NotFound", response: deref(doc, doc.components?.responses?.NotFound) };
  }
  // HEAD is answered like GET, without the body (RFC 9110 9.3.2).
  const head = method === "head" && !route.item.head && route.item.get;
  const op = head ? route.item.get : HTTP_METHODS.includes(method) ? route.item[method] : undefined;
  if (!op) {
    if (status !== "405") return { error: `${method.toUpperCase()} ${route.path} is not in the contract, and the answer is ${status}, not 405` };
    return { key: "methodNotAllowed", where: "components/responses/MethodNotAllowed", response: deref(doc, doc.components?.responses?.MethodNotAllowed) };
  }
  const responses = op.responses ?? {};
  const range = `${status[0]}XX`;
  const code = status in responses ? status : range in responses ? range : "default" in responses ? "default" : null;
  if (code === null) {
    return { error: `${method.toUpperCase()} ${route.path} declares no ${status} answer (declared: ${Object.keys(responses).join(", ")})` };
  }
  const m = head ? "get" : method;
  seen.add(`${m.toUpperCase()} ${route.path} ${code}`);
  return { key: `${m} ${route.path} ${code}`, where: `${method.toUpperCase()} ${route.path} ${code}`, response: deref(doc, responses[code]), head };
}

function mediaMatches(declared, actual) {
  if (declared.essence !== actual.essence) return false;
  for (const [k, v] of Object.entries(declared.params)) {
    if (k === "charset") continue;
    if (actual.params[k] !== v) return false;
  }
  return true;
}

function getValidator(key, schema) {
  if (!validators.has(key)) validators.set(key, compileSchema(ajv, schema));
  return validators.get(key);
}

function checkHeaders(rec, found, failures) {
  if (!rec.headers || typeof rec.headers !== "object") return;
  const actual = Object.fromEntries(Object.entries(rec.headers).map(([k, v]) => [k.toLowerCase(), v]));
  for (const [name, h0] of Object.entries(found.response.headers ?? {})) {
    const h = deref(doc, h0);
    const value = actual[name.toLowerCase()];
    if (value === undefined || value === null) {
      if (h.required) failures.push(`missing required header ${name}`);
      continue;
    }
    if (!h.schema) continue;
    const s = deref(doc, h.schema);
    let v = Array.isArray(value) ? value.join(", ") : String(value);
    if (s.type === "integer" || s.type === "number") {
      if (!/^-?\d+(\.\d+)?$/.test(v.trim())) {
        failures.push(`header ${name}: ${JSON.stringify(v)} is not a number`);
        continue;
      }
      v = Number(v);
    }
    const validate = getValidator(`${found.key} header ${name}`, h.schema);
    if (!validate(v)) failures.push(`header ${name}: ${JSON.stringify(value)} ${formatAjvErrors(validate.errors)}`);
  }
}

function checkOne(rec) {
  const failures = [];
  if (typeof rec.status !== "number" || !Number.isInteger(rec.status)) {
    return [`status ${JSON.stringify(rec.status)} is not an integer`];
  }
  const found = findResponse(rec);
  if (found.error) return [found.error];
  if (!found.response) return [`${found.where} is missing from the contract`];
  checkHeaders(rec, found, failures);
  const body = rec.body ?? "";
  if (typeof body !== "string") return [...failures, "the record's body is not a string"];
  if (found.head && body.length) return [...failures, `HEAD answered with ${body.length} body bytes`];
  const content = found.response.content;
  if (!content || Object.keys(content).length === 0) {
    if (body.length) failures.push(`${found.where} declares no body but ${body.length} bytes came`);
    return failures;
  }
  const actual = parseMediaType(rec.content_type);
  if (!actual) return [...failures, `Content-Type ${JSON.stringify(rec.content_type ?? null)} is missing or malformed; declared: ${Object.keys(content).join(", ")}`];
  const entry = Object.entries(content).find(([mt]) => {
    const d = parseMediaType(mt);
    return d && mediaMatches(d, actual);
  });
  if (!entry) return [...failures, `Content-Type ${rec.content_type} is not declared; declared: ${Object.keys(content).join(", ")}`];
  const [mt, media] = entry;
  if (found.head) return failures;
  if (isJsonMediaType(actual.essence)) {
    let value;
    try {
      value = JSON.parse(body);
    } catch (e) {
      return [...failures, `body is not JSON: ${e.message}`];
    }
    if (media.schema) {
      const validate = getValidator(`${found.key} ${mt}`, media.schema);
      if (!validate(value)) failures.push(`body does not match the schema: ${formatAjvErrors(validate.errors)}`);
    }
  } else {
    if (actual.essence === "application/yaml" || actual.essence === "text/yaml") {
      try {
        YAML.parse(body);
      } catch (e) {
        failures.push(`body is not YAML: ${e.message.split("\n")[0]}`);
      }
    }
    if (media.schema) {
      const validate = getValidator(`${found.key} ${mt}`, media.schema);
      if (!validate(body)) failures.push(`body does not match the schema: ${formatAjvErrors(validate.errors)}`);
    }
  }
  return failures;
}

let passed = 0;
let failed = 0;
const lines = readFileSync(file, "utf8").split("\n");
lines.forEach((line, i) => {
  if (!line.trim()) return;
  let rec;
  try {
    rec = JSON.parse(line);
  } catch (e) {
    failed++;
    console.log(`FAIL ${file}:${i + 1}: not a JSON line: ${e.message}`);
    return;
  }
  const label = `${rec.method} ${rec.path} -> ${rec.status}`;
  let failures;
  try {
    failures = checkOne(rec);
  } catch (e) {
    failures = [`validator error: ${e.message}`];
  }
  if (failures.length) {
    failed++;
    console.log(`FAIL ${file}:${i + 1}: ${label}`);
    for (const f of failures) console.log(`    ${f}`);
  } else {
    passed++;
  }
});

if (coverage) {
  for (const r of routes) {
    for (const m of HTTP_METHODS) {
      const op = r.item[m];
      if (!op) continue;
      for (const code of Object.keys(op.responses ?? {})) {
        const k = `${m.toUpperCase()} ${r.path} ${code}`;
        if (!seen.has(k)) console.log(`not exercised: ${k}`);
      }
    }
  }
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed || passed === 0 ? 1 : 0);
