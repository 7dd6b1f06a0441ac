// What every interop test needs before it can check anything: the npm package `jose` and the
// tessera binary. A missing one must fail the run, not skip it: a skipped interop test looks green
// in CI while checking nothing. A dynamic import lets us say what to do instead of a bare
// ERR_MODULE_NOT_FOUND.
import fs from 'node:fs';

let jose;
let setupError;
try {
  jose = await import('jose');
} catch (err) {
  setupError = `cannot load the npm package "jose" (${err.code ?? err.message}); ` +
      'run scripts/install-deps (it runs `npm ci` in tests/interop)';
}
const BIN = process.env.TESSERA_BIN;
if (!setupError && !BIN) {
  setupError = 'TESSERA_BIN is not set; it must name the tessera binary (ctest sets it)';
} else if (!setupError && !fs.existsSync(BIN)) {
  setupError = `TESSERA_BIN=${BIN} does not exist; build the tessera target first`;
}

// jose: the module (undefined when it failed to load); setupError: why the tests cannot run.
export { jose, BIN, setupError };
