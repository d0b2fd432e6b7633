// Starts a worker thread on an ES module that sits beside the caller, both from the compiled
// build (.js) and from the TypeScript sources under tsx (.ts): Node 20 does not apply --import
// loader hooks to workers, so under tsx the worker registers tsx itself before importing.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * A Worker running `module` (a file name without extension, beside `callerUrl`, the caller's
 * import.meta.url). A failure to load the module surfaces as the worker's 'error' event.
 */
export function startModuleWorker(callerUrl: string, module: string, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  const fromTs = callerUrl.endsWith('.ts');
  const moduleUrl = new URL(`./${module}${fromTs ? '.ts' : '.js'}`, callerUrl).href;
  // the ESM build of tsx's API (require.resolve finds the CommonJS one beside it)
  const tsxApi = fromTs ? pathToFileURL(createRequire(callerUrl).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href : '';
  const register = fromTs ? `const api = await import(${JSON.stringify(tsxApi)}); (api.register ?? api.default.register)();` : '';
  const code = `(async () => { ${register} await import(${JSON.stringify(moduleUrl)}); })().catch((e) => setImmediate(() => { throw e; }));`;
  return new Worker(code, { execArgv: [], ...options, eval: true });
}
