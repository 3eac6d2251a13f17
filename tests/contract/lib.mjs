// Shared helpers of the contract scripts: loading openapi.yaml, resolving
// its local $refs, and an Ajv 2020-12 instance that knows the OpenAPI 3.1
// schema dialect (the document's schemas are JSON Schema 2020-12 plus a few
// OpenAPI keywords).
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import YAML from "yaml";

const here = dirname(fileURLToPath(import.meta.url));

export const DEFAULT_SPEC = resolve(here, "..", "..", "openapi", "openapi.yaml");

export function specPath() {
  return process.env.RX_OPENAPI || DEFAULT_SPEC;
}

export function loadSpec(path = specPath()) {
  const text = readFileSync(path, "utf8");
  // uniqueKeys: a duplicated mapping key is an error, not a silent override.
  const doc = YAML.parse(text, { uniqueKeys: true, prettyErrors: true });
  return { text, doc };
}

const SCHEMA_BASE = "https://repoexfil.invalid/openapi/components/schemas/";

function unescapePointer(tok) {
  return tok.replace(/~1/g, "/").replace(/~0/g, "~");
}

// Returns the node a local JSON pointer ("#/a/b") names, or undefined.
export function resolvePointer(doc, ref) {
  if (typeof ref !== "string" || !ref.startsWith("#")) return undefined;
  if (ref === "#") return doc;
  if (!ref.startsWith("#/")) return undefined;
  let node = doc;
  for (const raw of ref.slice(2).split("/")) {
    const tok = decodeURIComponent(unescapePointer(raw));
    if (node === null || typeof node !== "object" || !(tok in node)) return undefined;
    node = node[tok];
  }
  return node;
}

// Follows $ref chains of OpenAPI objects (responses, parameters, headers).
export function deref(doc, node, seen = new Set()) {
  while (node && typeof node === "object" && typeof node.$ref === "string") {
    if (seen.has(node.$ref)) throw new Error(`$ref cycle at ${node.$ref}`);
    seen.add(node.$ref);
    const target = resolvePointer(doc, node.$ref);
    if (target === undefined) throw new Error(`unresolved $ref ${node.$ref}`);
    node = target;
  }
  return node;
}

// Deep copy of a schema whose "#/components/schemas/X" refs point at the
// ids under which the component schemas are registered with Ajv.
export function rewriteRefs(schema) {
  if (Array.isArray(schema)) return schema.map(rewriteRefs);
  if (schema === null || typeof schema !== "object") return schema;
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === "$ref" && typeof v === "string" && v.startsWith("#/components/schemas/")) {
      out[k] = SCHEMA_BASE + v.slice("#/components/schemas/".length);
    } else if (k === "$ref" && typeof v === "string" && v.startsWith("#/")) {
      throw new Error(`schema $ref outside components/schemas is not supported: ${v}`);
    } else {
      out[k] = rewriteRefs(v);
    }
  }
  return out;
}

// Ajv for the document's schemas: 2020-12, strict about unknown keywords
// (a typo such as "additionalProperites" is an error), formats checked, the
// OpenAPI 3.1 dialect keywords allowed, every component schema registered.
export function makeAjv(doc) {
  const ajv = new Ajv2020({
    strict: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    allowUnionTypes: true,
    allErrors: true,
    validateFormats: true,
  });
  addFormats(ajv);
  ajv.addFormat("int32", {
    type: "number",
    validate: (n) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31,
  });
  ajv.addFormat("int64", { type: "number", validate: (n) => Number.isInteger(n) });
  ajv.addFormat("float", { type: "number", validate: () => true });
  ajv.addFormat("double", { type: "number", validate: () => true });
  ajv.addFormat("binary", { type: "string", validate: () => true });
  for (const kw of ["discriminator", "xml", "externalDocs", "example"]) {
    ajv.addKeyword({ keyword: kw });
  }
  const schemas = doc?.components?.schemas ?? {};
  for (const [name, schema] of Object.entries(schemas)) {
    ajv.addSchema({ ...rewriteRefs(schema), $id: SCHEMA_BASE + name });
  }
  return ajv;
}

// Compiles a schema met anywhere in the document (inline or a $ref).
export function compileSchema(ajv, schema) {
  if (schema && typeof schema === "object" && typeof schema.$ref === "string" &&
      Object.keys(schema).length === 1 && schema.$ref.startsWith("#/components/schemas/")) {
    const id = SCHEMA_BASE + schema.$ref.slice("#/components/schemas/".length);
    const v = ajv.getSchema(id);
    if (!v) throw new Error(`no schema registered for ${schema.$ref}`);
    return v;
  }
  return ajv.compile(rewriteRefs(schema));
}

export function formatAjvErrors(errors) {
  return (errors ?? [])
    .map((e) => `${e.instancePath || "/"} ${e.message}${e.params && Object.keys(e.params).length ? " " + JSON.stringify(e.params) : ""}`)
    .join("; ");
}

export const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

// Parses "type/subtype; a=b; c=d" into {essence, params}; names lower-cased.
export function parseMediaType(value) {
  if (typeof value !== "string") return null;
  const parts = value.split(";");
  const essence = parts[0].trim().toLowerCase();
  if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+*-]+$/.test(essence)) return null;
  const params = {};
  for (const p of parts.slice(1)) {
    const i = p.indexOf("=");
    if (i < 0) continue;
    const k = p.slice(0, i).trim().toLowerCase();
    let v = p.slice(i + 1).trim();
    if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    if (k) params[k] = v;
  }
  return { essence, params };
}

export function isJsonMediaType(essence) {
  return essence === "application/json" || essence.endsWith("+json");
}
