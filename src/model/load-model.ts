import { RunError } from '../errors.js';
import { folderKind } from '../protocol/run-folder.js';
import { DeepCovidModel, type CovidModel, type ModelLoadOptions } from './deep-covid-model.js';
import { EnsembleModel } from './ensemble-model.js';

/**
 * Loads whatever trained model a folder holds: one run (`DeepCovidModel`) or an ensemble of runs
 * (`EnsembleModel`). Every task, the server, screening and PACS load models through this.
 * @throws RunError for anything that is neither (naming what it is, e.g. a reproduce folder).
 */
export async function loadModel(dir: string, opts: ModelLoadOptions = {}): Promise<CovidModel> {
  if ((await folderKind(dir)) === 'ensemble') {
    if (opts.modelPath) throw new RunError(`${dir} is an ensemble: a single model path cannot stand for its members' backbones`);
    return EnsembleModel.load(dir, opts);
  }
  return DeepCovidModel.load(dir, opts);
}
