#!/usr/bin/env node
// Prints, as one JSON object, the request body examples of POST /events
// (each as the exact bytes to send) and the 200 answer examples, so that
// tests can post the contract's own examples to the real server:
//   {"requests":[{"name","content_type","body"}],"answers":{"name":value}}
import { deref, loadSpec, specPath } from "./lib.mjs";

const { doc } = loadSpec(process.argv[2] || specPath());
const op = doc.paths["/events"].post;
const requests = [];
for (const [ct, media] of Object.entries(deref(doc, op.requestBody).content)) {
  const add = (name, value) =>
    requests.push({ name, content_type: ct, body: typeof value === "string" ? value : JSON.stringify(value) });
  if (media.example !== undefined) add("example", media.example);
  for (const [name, ex] of Object.entries(media.examples ?? {})) add(name, deref(doc, ex).value);
}
const answers = {};
for (const [name, ex] of Object.entries(deref(doc, op.responses["200"]).content["application/json"].examples ?? {})) {
  answers[name] = deref(doc, ex).value;
}
process.stdout.write(JSON.stringify({ requests, answers }) + "\n");
