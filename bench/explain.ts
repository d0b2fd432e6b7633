/**
 * Times explanations per image: occlusion sensitivity (patch 32, stride 16, 224 px crop → 170 backbone
 * images, batch 32) and CAM (one forward pass), for squeezenet1_1 and resnet18. Heads are random
 * (timing does not depend on the weights). Usage: npx tsx bench/explain.ts [repeats]
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Backbone } from '../src/backbone/backbone.js';
import { occlusionMap } from '../src/explain/occlusion.js';
import { createHead, headSpecFor } from '../src/head/index.js';
import { DeepCovidModel } from '../src/model/index.js';
import { loadGreyImage } from '../src/input/load-image.js';
import { preprocess } from '../src/preprocess/to-tensor.js';
import { env } from '../src/util/env.js';

// benchmarks use the backbones in ../shared/models beside the checkout
env.devModels = true;

const repeats = Number(process.argv[2] ?? 3);
const covid = resolve('..', 'shared', 'data', 'covidx5k-dev', 'test', 'covid');
const file = join(covid, readdirSync(covid).sort()[0]);

for (const name of ['squeezenet1_1', 'resnet18']) {
  const backbone = await Backbone.load(name);
  const { spec, tensor } = await headSpecFor(backbone);
  const model = await DeepCovidModel.fromParts(backbone, createHead(spec, 1));
  const t = await preprocess(await loadGreyImage(file), backbone.manifest.preprocess);
  await model.camMaps(t, 1); // warm-up
  const occ: number[] = [];
  const cam: number[] = [];
  let evals = 0;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    evals = (await occlusionMap(model, t, { patch: 32, stride: 16, batchSize: 32 })).evaluations;
    occ.push(performance.now() - t0);
    for (let k = 0; k < 5; k++) {
      const t1 = performance.now();
      await model.camMaps(t, 1);
      cam.push(performance.now() - t1);
    }
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  console.log(`${name} (${backbone.weights} weights, ${tensor} head): occlusion ${(med(occ) / 1000).toFixed(2)} s/image (${evals} backbone images, median of ${repeats}); CAM ${med(cam).toFixed(1)} ms/image (median of ${cam.length})`);
  await model.release();
}
