// Transpile the client's chunk decoder (src/codec.ts and what it imports) to ES
// modules in OUT_DIR, for the wire bench to run it in a real browser page.
// Usage: node scripts/transpile-codec.mjs OUT_DIR [SRC_DIR]  (SRC_DIR: another copy of src/,
// e.g. an older decoder to compare against; default: this checkout's)
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const out = process.argv[2];
const src = process.argv[3] ?? join(dirname(fileURLToPath(import.meta.url)), "..", "src");
for (const name of ["codec", "types"]) {
  const { outputText } = ts.transpileModule(readFileSync(join(src, `${name}.ts`), "utf8"), {
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
  });
  writeFileSync(join(out, `${name}.mjs`), outputText.replace(/from "\.\/(\w+)"/g, 'from "./$1.mjs"'));
}
