#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's test runner (TypeScript through tsx) and ends with
// the plain summary line CI reads: "N passed, N failed".
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
const files = find('test').filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)));
// tests find the backbones in ../shared/models beside the checkout (the library's opt-in, see src/util/env.ts)
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
  stdio: ['ignore', 'pipe', 'inherit'],
  // ORT_DISABLE_TELEMETRY: for tests that open onnxruntime sessions without deep-covid's Backbone (see src/backbone/ort-env.ts)
  env: { ...process.env, DEEP_COVID_DEV: '1', ORT_DISABLE_TELEMETRY: '1' },
});
let text = '';
child.stdout.on('data', (d) => { process.stdout.write(d); text += d.toString(); });
child.on('close', (code) => {
  const num = (label) => {
    const m = text.match(new RegExp(`^ℹ ${label} (\\d+)$`, 'm'));
    return m ? Number(m[1]) : 0;
  };
  const passed = num('pass');
  const failed = num('fail') + num('cancelled');
  console.log(`${passed} passed, ${failed} failed, ${num('skipped')} skipped`);
  process.exitCode = code === 0 && failed === 0 && passed > 0 ? 0 : 1;
});
