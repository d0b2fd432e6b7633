// Small synthetic chest-X-ray-like datasets made with sharp, for protocol tests.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src/util/rng.js';

/** One synthetic image: a noisy grey field with a bright disc when `covid` (a learnable signal). */
export async function syntheticXray(rng: Rng, covid: boolean, size = 96): Promise<Buffer> {
  const px = Buffer.alloc(size * size);
  const cx = size * (0.35 + 0.3 * rng.next());
  const cy = size * (0.35 + 0.3 * rng.next());
  const r = size * 0.18;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let v = 70 + 40 * rng.next();
      if (covid && (x - cx) ** 2 + (y - cy) ** 2 < r * r) v += 110;
      px[y * size + x] = Math.min(255, v);
    }
  }
  return sharp(px, { raw: { width: size, height: size, channels: 1 } }).png().toBuffer();
}

/** Layout of a tiny dataset: images per split and class, patients holding `perPatient` images each. */
export interface TinySpec {
  train: [number, number];
  test: [number, number];
  perPatient?: number;
  seed?: number;
  manifest?: boolean;
}

/** Writes a tiny train|test/covid|non dataset (with manifest.csv when asked) and returns its root. */
export async function makeTinyDataset(spec: TinySpec): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'dc-tiny-'));
  const rng = new Rng(spec.seed ?? 1);
  const rows = ['split,label,file,patient_id,source,view'];
  const per = spec.perPatient ?? 1;
  for (const split of ['train', 'test'] as const) {
    const [nc, nn] = spec[split];
    for (const [label, n] of [['covid', nc], ['non', nn]] as const) {
      await mkdir(join(root, split, label), { recursive: true });
      for (let i = 0; i < n; i++) {
        const file = `${split}/${label}/img-${String(i).padStart(3, '0')}.png`;
        await writeFile(join(root, file), await syntheticXray(rng, label === 'covid'));
        rows.push(`${split},${label},${file},${split}-${label}-p${Math.floor(i / per)},${label === 'covid' ? 'srcA' : 'srcB'},PA`);
      }
    }
  }
  if (spec.manifest) await writeFile(join(root, 'manifest.csv'), rows.join('\n') + '\n');
  return root;
}

/**
 * A small ImageFolder copy of real chest X-rays from the development set (the first `train` and
 * `test` files of each class, by name), for tests whose model must have seen what chest films
 * look like (the input gate learns that from the training images).
 */
export async function makeDevSubset(devSet: string, train: number, test: number): Promise<string> {
  const { copyFile, readdir } = await import('node:fs/promises');
  const root = await mkdtemp(join(tmpdir(), 'dc-devsub-'));
  for (const [split, n] of [['train', train], ['test', test]] as const) {
    for (const cls of ['covid', 'non']) {
      const dir = join(devSet, split, cls);
      await mkdir(join(root, split, cls), { recursive: true });
      for (const f of (await readdir(dir)).sort().slice(0, n)) await copyFile(join(dir, f), join(root, split, cls, f));
    }
  }
  return root;
}
