#!/usr/bin/env node
// Validates openapi/openapi.yaml (or the file given as the first argument):
//  1. against the official OpenAPI 3.1 JSON Schema, with
//     @seriousme/openapi-schema-validator;
//  2. then what that schema cannot see: every local $ref resolves; every
//     schema compiles as JSON Schema 2020-12 in Ajv's strict mode (unknown
//     keywords are errors); every example (schema `examples`, media type,
//     parameter and header `example`/`examples`) is valid against its
//     schema; operationIds are unique; every response declares the
//     X-Request-ID header; path template parameters are declared.
// Prints every problem and exits 1 on any, 0 otherwise.
import { Validator } from "@seriousme/openapi-schema-validator";
import {
  HTTP_METHODS,
  compileSchema,
  deref,
  formatAjvErrors,
  loadSpec,
  makeAjv,
  parseMediaType,
  isJsonMediaType,
  resolvePointer,
  specPath,
} from "./lib.mjs";

const file = process.argv[2] || specPath();
const problems = [];
const problem = (where, msg) => problems.push(`${where}: ${msg}`);

let doc;
try {
  ({ doc } = loadSpec(file));
} catch (e) {
  console.error(`${file}: not valid YAML: ${e.message}`);
  process.exit(1);
}

// 1. The official schema.
const validator = new Validator();
const res = await validator.validate(doc);
if (!res.valid) {
  for (const e of Array.isArray(res.errors) ? res.errors : [res.errors]) {
    problem("OpenAPI schema", typeof e === "string" ? e : JSON.stringify(e));
  }
} else if (validator.version !== "3.1") {
  problem("openapi", `expected an OpenAPI 3.1 document, got ${validator.version}`);
}

// 2a. Every local $ref resolves.
(function walk(node, where) {
  if (Array.isArray(node)) return node.forEach((v, i) => walk(v, `${where}/${i}`));
  if (node === null || typeof node !== "object") return;
  for (const [k, v] of Object.entries(node)) {
    if (k === "$ref" && typeof v === "string") {
      if (!v.startsWith("#")) problem(where, `external $ref ${v} is not allowed`);
      else if (resolvePointer(doc, v) === undefined) problem(where, `unresolved $ref ${v}`);
    } else {
      walk(v, `${where}/${k}`);
    }
  }
})(doc, "#");

if (problems.length) finish();

// 2b. Schemas compile strictly; examples validate.
let ajv;
try {
  ajv = makeAjv(doc);
} catch (e) {
  problem("components/schemas", `does not compile: ${e.message}`);
  finish();
}

function checkSchemaAndExamples(where, schema, examples) {
  if (schema === undefined) return;
  let validate;
  try {
    validate = compileSchema(ajv, schema);
  } catch (e) {
    problem(where, `schema does not compile: ${e.message}`);
    return;
  }
  for (const [name, value] of examples) {
    if (!validate(value)) {
      problem(`${where} example ${name}`, formatAjvErrors(validate.errors));
    }
  }
}

for (const [name, schema] of Object.entries(doc.components?.schemas ?? {})) {
  const where = `#/components/schemas/${name}`;
  try {
    const v = compileSchema(ajv, { $ref: where });
    for (const [i, ex] of (schema.examples ?? []).entries()) {
      if (!v(ex)) problem(`${where} examples[${i}]`, formatAjvErrors(v.errors));
    }
  } catch (e) {
    problem(where, `does not compile: ${e.message}`);
  }
}

function examplesOf(obj) {
  const out = [];
  if (obj.example !== undefined) out.push(["example", obj.example]);
  for (const [n, ex] of Object.entries(obj.examples ?? {})) {
    const e = deref(doc, ex);
    if (e.value !== undefined) out.push([n, e.value]);
  }
  return out;
}

// A text body example is checked against its media type: a JSON example of
// a string-typed non-JSON body must at least be a string.
function checkContent(where, content) {
  for (const [mt, media] of Object.entries(content ?? {})) {
    const parsed = parseMediaType(mt);
    if (!parsed) problem(`${where} content`, `bad media type ${JSON.stringify(mt)}`);
    const exs = examplesOf(media);
    const schemaExamples = media.schema ? deref(doc, media.schema).examples : undefined;
    if (exs.length === 0 && !(Array.isArray(schemaExamples) && schemaExamples.length)) {
      problem(`${where} content ${mt}`, "has no example (neither on the media type nor on its schema)");
    }
    checkSchemaAndExamples(`${where} content ${mt}`, media.schema, exs);
    if (parsed && !isJsonMediaType(parsed.essence)) {
      for (const [n, v] of exs) {
        if (typeof v !== "string") problem(`${where} content ${mt} example ${n}`, "a non-JSON body example must be a string");
      }
    }
  }
}

function checkParamLike(where, p) {
  checkSchemaAndExamples(where, p.schema, examplesOf(p));
  if (p.content) checkContent(where, p.content);
}

const opIds = new Map();
for (const [path, item] of Object.entries(doc.paths ?? {})) {
  const templ = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
  for (const method of HTTP_METHODS) {
    const op = item[method];
    if (!op) continue;
    const where = `${method.toUpperCase()} ${path}`;
    if (op.operationId) {
      if (opIds.has(op.operationId)) problem(where, `operationId ${op.operationId} also used by ${opIds.get(op.operationId)}`);
      opIds.set(op.operationId, where);
    } else {
      problem(where, "has no operationId");
    }
    const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p) => deref(doc, p));
    for (const p of params) checkParamLike(`${where} parameter ${p.in}:${p.name}`, p);
    for (const t of templ) {
      if (!params.some((p) => p.in === "path" && p.name === t)) problem(where, `path parameter {${t}} is not declared`);
    }
    if (op.requestBody) checkContent(`${where} requestBody`, deref(doc, op.requestBody).content);
    for (const [status, r0] of Object.entries(op.responses ?? {})) {
      const r = deref(doc, r0);
      const rw = `${where} ${status}`;
      const headers = Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k.toLowerCase(), deref(doc, v)]));
      if (!headers["x-request-id"]) problem(rw, "does not declare the X-Request-ID header");
      for (const [hn, h] of Object.entries(headers)) checkParamLike(`${rw} header ${hn}`, h);
      checkContent(rw, r.content);
    }
  }
}
for (const [name, r0] of Object.entries(doc.components?.responses ?? {})) {
  const r = deref(doc, r0);
  const rw = `#/components/responses/${name}`;
  if (!Object.keys(r.headers ?? {}).some((h) => h.toLowerCase() === "x-request-id")) problem(rw, "does not declare the X-Request-ID header");
  for (const [hn, h] of Object.entries(r.headers ?? {})) checkParamLike(`${rw} header ${hn}`, deref(doc, h));
  checkContent(rw, r.content);
}
for (const [name, p] of Object.entries(doc.components?.parameters ?? {})) checkParamLike(`#/components/parameters/${name}`, p);
for (const [name, h] of Object.entries(doc.components?.headers ?? {})) checkParamLike(`#/components/headers/${name}`, h);
for (const name of ["NotFound", "MethodNotAllowed"]) {
  if (!doc.components?.responses?.[name]) problem("#/components/responses", `${name} (the answer to unknown routes and methods) is missing`);
}

finish();

function finish() {
  if (problems.length) {
    for (const p of problems) console.error(`error: ${p}`);
    console.error(`${file}: ${problems.length} problem(s)`);
    process.exit(1);
  }
  console.log(`${file}: valid OpenAPI ${validator.version}; ${opIds.size} operations; schemas, refs and examples check out`);
  process.exit(0);
}
