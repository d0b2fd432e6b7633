// Turns onnxruntime's telemetry off for the whole process, before onnxruntime is first used.
//
// Since 1.30 the Linux/macOS onnxruntime build ships a telemetry uploader that (a) writes an event
// queue (SQLite) and a device id under ~/.cache/Microsoft/DeveloperTools/.onnxruntime/, a `.ses`
// file and empty mat-debug-<pid>.log files in TMPDIR, and (b) recurses without end, killing the
// process with SIGSEGV, when the command line is longer than about 32 KB (a `predict` over a few
// hundred files). Medical software must collect and leave nothing, so it is always off here.
//
// The only switch is the environment variable ORT_DISABLE_TELEMETRY=1, read by the native
// library once, when its environment (OrtEnv) is created with the first session, and latched for
// the life of the process. Assigning process.env on the main thread calls setenv(), which the
// native library sees; that is why this module must be evaluated before any session exists:
// backbone.ts imports it first, and bin/deep-covid.js sets the variable before loading the CLI.
// In a worker thread process.env is a private copy, invisible to native code, so a worker can
// only rely on what the process environment already says (see assertTelemetryOff).
import { isMainThread } from 'node:worker_threads';
import { ModelError } from '../errors.js';

/** The environment variable that disables onnxruntime's telemetry (any value but "1" leaves it on). */
export const ORT_TELEMETRY_SWITCH = 'ORT_DISABLE_TELEMETRY';

const inherited = process.env[ORT_TELEMETRY_SWITCH];
// forced, not defaulted: an inherited "0" would switch the uploader back on
process.env[ORT_TELEMETRY_SWITCH] = '1';

/**
 * Whether onnxruntime will start with telemetry off: always on the main thread (set above); in a
 * worker thread only when the environment it inherited already said so (the main thread had
 * loaded deep-covid, or the variable was set before the process started).
 */
export const telemetryDisabled: boolean = isMainThread || inherited === '1';

/**
 * Throws before a session is created where telemetry cannot be guaranteed off: in a worker thread
 * of a process whose environment lacks ORT_DISABLE_TELEMETRY=1. (onnxruntime would then write
 * its event store to the home folder and crash on long command lines.)
 */
export function assertTelemetryOff(): void {
  if (telemetryDisabled) return;
  throw new ModelError(
    `onnxruntime's telemetry cannot be turned off from a worker thread: set ${ORT_TELEMETRY_SWITCH}=1 in the process environment, ` +
      `or import deep-covid in the main thread before starting the worker (it sets the variable for the whole process)`,
  );
}
