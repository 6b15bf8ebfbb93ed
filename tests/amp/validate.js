// Validate AMP for Email documents with the official AMP validator, offline.
//
// Usage: node tests/amp/validate.js PATH/TO/validator_wasm.js
//
// Reads JSON lines {"id": ..., "html": ...} on stdin and writes, for each, one
// JSON line {"id", "status", "errors": [{"severity", "line", "col", "message"}]}
// on stdout, in order. One process validates any number of documents: the
// engine takes about 0.6 s to start and about 2 ms per document after that.
// The engine (`.ci/fetch-amp-validator` fetches it) is loaded into a `vm`
// context, exactly as the amphtml-validator npm package would load it.
"use strict";

const fs = require("fs");
const readline = require("readline");
const vm = require("vm");

async function main() {
  const path = process.argv[2];
  if (!path) {
    process.stderr.write("usage: node validate.js PATH/TO/validator_wasm.js\n");
    process.exit(2);
  }
  const context = vm.createContext({
    console, setTimeout, clearTimeout, setInterval, clearInterval,
    WebAssembly, TextEncoder, TextDecoder, URL, performance, queueMicrotask,
  });
  context.self = context;
  context.window = context;
  context.globalThis = context;
  vm.runInContext(fs.readFileSync(path, "utf-8"), context, { filename: path });
  const validator = context.amp.validator;
  await validator.init();

  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const { id, html } = JSON.parse(line);
    const result = validator.validateString(html, "AMP4EMAIL");
    const errors = result.errors.map((e) => ({
      severity: e.severity,
      line: e.line,
      col: e.col,
      message: validator.renderErrorMessage(e),
    }));
    process.stdout.write(JSON.stringify({ id, status: result.status, errors }) + "\n");
  }
}

main().catch((err) => {
  process.stderr.write(`validate.js: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
