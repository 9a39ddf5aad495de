// Decode compact chunk files with the client's own decoder (src/codec.ts) and
// print them as JSON, so tests can compare against the Python encoder.
// Usage: node scripts/decode-chunk.mjs CHUNK_FILE...
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";

const src = join(dirname(fileURLToPath(import.meta.url)), "..", "src");
const out = mkdtempSync(join(tmpdir(), "rr-codec-"));
try {
  for (const name of ["codec", "types"]) {
    const { outputText } = ts.transpileModule(readFileSync(join(src, `${name}.ts`), "utf8"), {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
    });
    writeFileSync(join(out, `${name}.mjs`), outputText.replace(/from "\.\/(\w+)"/g, 'from "./$1.mjs"'));
  }
  const { decodeChunk } = await import(pathToFileURL(join(out, "codec.mjs")).href);
  const results = [];
  for (const file of process.argv.slice(2)) {
    const block = await decodeChunk(new Uint8Array(readFileSync(file)));
    const channels = {};
    for (const [k, v] of Object.entries(block.driver)) channels[k] = Array.from(v, (x) => (Number.isNaN(x) ? null : x));
    for (const [k, v] of Object.entries(block.session)) channels[k] = Array.from(v, (x) => (Number.isNaN(x) ? null : x));
    results.push({ header: block.header, frames: Array.from(block.frames), end: block.end, channels, events: block.events });
  }
  process.stdout.write(JSON.stringify(results));
} finally {
  rmSync(out, { recursive: true, force: true });
}
