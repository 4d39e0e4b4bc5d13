// Runs the portable protocol tests under the real MicroPython interpreter
// (WebAssembly port, npm @micropython/micropython-webassembly-pyscript).
//
//   node tests/micropython/run.mjs MODULE_DIR EXPECTED_COUNT
//
// Copies protocol/, tests/vectors/ and tests/protocol/portable/ into the
// interpreter's file system at the same relative paths, runs runner.py, and
// exits non-zero if a test failed or fewer than EXPECTED_COUNT ran.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const [, , moduleDir, expectedArg] = process.argv;
const expected = Number(expectedArg);
if (!moduleDir || !Number.isInteger(expected) || expected <= 0) {
  console.error("usage: run.mjs NODE_MODULES_DIR EXPECTED_COUNT");
  process.exit(2);
}
const require = createRequire(path.resolve(moduleDir) + "/");
const pkg = require.resolve("@micropython/micropython-webassembly-pyscript/micropython.mjs");
const { loadMicroPython } = await import(pkg);

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const lines = [];
const mp = await loadMicroPython({
  heapsize: 16 * 1024 * 1024,
  stdout: (line) => { lines.push(line); console.log(line); },
  stderr: (line) => console.error(line),
  linebuffer: true,
});

function copyTree(rel) {
  const src = path.join(root, rel);
  mp.FS.mkdirTree("/app/" + rel);
  for (const entry of fs.readdirSync(src, { withFileTypes: true })) {
    const child = path.join(rel, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "__pycache__") copyTree(child);
    } else {
      mp.FS.writeFile("/app/" + child, fs.readFileSync(path.join(root, child)));
    }
  }
}
["protocol", "tests/vectors", "tests/protocol/portable", "tests/micropython"].forEach(copyTree);

const portable = path.join(root, "tests/protocol/portable");
const modules = fs.readdirSync(portable)
  .filter((f) => /^test_.*\.py$/.test(f))
  .map((f) => f.slice(0, -3))
  .sort();

try {
  mp.runPython(`
import sys
sys.path.insert(0, "/app/tests/micropython")
sys.path.insert(0, "/app/tests/protocol/portable")
sys.path.insert(0, "/app")
import runner
`);
  await mp.runPythonAsync(
    `_task = __import__("asyncio").create_task(runner.main(${JSON.stringify(modules)}))\nawait _task`);
} catch (err) {
  console.error("MicroPython run crashed:", err.type || "", String(err.message || err).slice(-2000));
  process.exit(1);
}

const summary = lines.map((l) => l.match(/^PORTABLE RESULT passed=(\d+) failed=(\d+)$/)).find(Boolean);
if (!summary) {
  console.error("MicroPython run printed no result line");
  process.exit(1);
}
const passed = Number(summary[1]);
const failed = Number(summary[2]);
console.log(`MicroPython ${mp.pyimport("sys").version}: ${passed} portable tests passed, ${failed} failed (expected ${expected}) in ${modules.length} modules`);
if (failed > 0 || passed < expected) {
  console.error(failed > 0 ? "MicroPython: tests failed" : `MicroPython: only ${passed} of ${expected} tests ran`);
  process.exit(1);
}
