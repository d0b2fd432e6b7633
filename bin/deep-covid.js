#!/usr/bin/env node
// Entry point: runs the compiled CLI (built by `npm ci` / `npm run build` via the prepare script).
// onnxruntime's telemetry is switched off before anything loads it (see src/backbone/ort-env.ts):
// it would leave files in the home folder and crashes on command lines over about 32 KB.
process.env.ORT_DISABLE_TELEMETRY = '1';
const { main } = await import('../dist/cli/main.js');

main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err instanceof Error ? err.message : String(err)); process.exitCode = 1; },
);
