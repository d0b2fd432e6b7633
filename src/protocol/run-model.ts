import { access } from 'node:fs/promises';
import { Backbone, type BackboneOptions } from '../backbone/backbone.js';
import { RunError } from '../errors.js';
import type { LoadedRun } from './run-dir.js';
import { headSpecFor } from './train-run.js';

/**
 * Loads the backbone a run was trained with: the recorded file when it still exists, else the
 * registry search. A file whose sha256 differs from the recorded one is refused, because the
 * head's weights only fit the features of that exact backbone.
 */
export async function loadRunBackbone(run: LoadedRun, runtime: BackboneOptions = {}, modelPath?: string): Promise<{ backbone: Backbone; tensor: 'pooled' | 'map' }> {
  const rec = run.record.backbone;
  const recorded = await access(rec.file).then(() => rec.file, () => undefined);
  const backbone = await Backbone.load(rec.name, { ...runtime, path: modelPath ?? runtime.path ?? recorded });
  if (backbone.modelSha256 !== rec.sha256) {
    await backbone.release();
    throw new RunError(`${backbone.located.path} (sha256 ${backbone.modelSha256.slice(0, 12)}…) is not the backbone run ${run.record.id} was trained with (sha256 ${rec.sha256.slice(0, 12)}…, ${rec.file}): pass that file with --model`);
  }
  const { spec, tensor } = await headSpecFor(backbone);
  if (spec.inChannels !== run.head.inChannels) {
    await backbone.release();
    throw new RunError(`the run's head expects ${run.head.inChannels} feature channels but ${backbone.name} gives ${spec.inChannels}`);
  }
  return { backbone, tensor };
}
