// Loaded into a server process under test (`node --import ./bench/loop-probe.mjs ...`, started by
// bench/serve.ts with an IPC channel): measures the event loop's delay (monitorEventLoopDelay),
// its utilisation, and V8's garbage-collection pauses (PerformanceObserver 'gc') inside the
// server, independent of how loaded the client side is. The bench sends {probe: 'reset'} at the
// start of a phase and {probe: 'report'} at its end; the answer is {probe: 'stats', ...}.
import { monitorEventLoopDelay, performance, PerformanceObserver, constants } from 'node:perf_hooks';

if (process.send) {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let elu = performance.eventLoopUtilization();
  const gcKinds = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
  };
  let gc = {};
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = gcKinds[e.detail?.kind ?? e.kind] ?? 'other';
      const g = (gc[kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
      g.count++;
      g.totalMs += e.duration;
      g.maxMs = Math.max(g.maxMs, e.duration);
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  process.on('message', (m) => {
    if (m?.probe === 'reset') {
      delay.reset();
      elu = performance.eventLoopUtilization();
      gc = {};
    } else if (m?.probe === 'report') {
      const ms = (ns) => Math.round(ns / 1e4) / 100;
      process.send({
        probe: 'stats',
        delayMs: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) },
        utilisation: Math.round(performance.eventLoopUtilization(elu).utilization * 1000) / 1000,
        gc,
      });
    }
  });
  // the IPC channel must not keep the server alive on its own
  process.channel?.unref();
}
