/**
 * Left-right mirror symmetry of an image: how a frontal (PA or AP) chest radiograph differs from a
 * lateral one. A frontal film shows two lungs either side of a central spine and mediastinum, so it
 * is roughly its own mirror image about a vertical axis near the centre; a lateral film has the
 * spine on one side and the sternum on the other. The measure is the Pearson correlation between a
 * coarse grey thumbnail and its mirror image, the best over axes within ±5% of the centre (patients
 * are rarely centred exactly). It is measured on whatever pixels the caller has (image.ts bins
 * them while computing its other statistics), so Node and the browser get the same number.
 * No Node imports: the client page uses this module too.
 */

/** Cells per side of the thumbnail (each pixel adds to the cell it falls in: a box average). */
export const SYMMETRY_GRID = 64;
/** Axis positions tried either side of the centre, in half-cells: ±6 half-cells = ±3 cells ≈ ±5% of the width. */
const MAX_AXIS_SHIFT = 6;

/** A thumbnail being filled pixel by pixel (grey levels summed per cell). */
export interface SymmetryGrid {
  sums: Float64Array;
  counts: Float64Array;
  /** The cell column of each image column. */
  colCell: Int32Array;
  /** The cell row of each image row. */
  rowCell: Int32Array;
}

/** An empty thumbnail for a width x height image. */
export function symmetryGrid(width: number, height: number): SymmetryGrid {
  const g = SYMMETRY_GRID;
  return {
    sums: new Float64Array(g * g),
    counts: new Float64Array(g * g),
    colCell: Int32Array.from({ length: width }, (_, x) => Math.floor((x * g) / width)),
    rowCell: Int32Array.from({ length: height }, (_, y) => Math.floor((y * g) / height)),
  };
}

/**
 * The mirror symmetry of a filled thumbnail: the largest correlation (−1 to 1) between the cells
 * and their mirror images over the axes tried. 0 when the image is uniform (nothing to compare).
 */
export function mirrorSymmetry(grid: SymmetryGrid): number {
  const g = SYMMETRY_GRID;
  const { sums, counts } = grid;
  const cell = new Float64Array(g * g);
  for (let i = 0; i < cell.length; i++) cell[i] = counts[i] > 0 ? sums[i] / counts[i] : NaN;
  let best = -Infinity;
  for (let s = -MAX_AXIS_SHIFT; s <= MAX_AXIS_SHIFT; s++) {
    // column x pairs with column g − 1 + s − x: the axis at (g − 1 + s) / 2
    let n = 0, su = 0, sv = 0, suu = 0, svv = 0, suv = 0;
    for (let y = 0; y < g; y++) {
      const row = y * g;
      for (let x = 0; x < g; x++) {
        const m = g - 1 + s - x;
        if (m < 0 || m >= g) continue;
        const u = cell[row + x];
        const v = cell[row + m];
        if (Number.isNaN(u) || Number.isNaN(v)) continue;
        n++;
        su += u;
        sv += v;
        suu += u * u;
        svv += v * v;
        suv += u * v;
      }
    }
    const den = Math.sqrt((suu - (su * su) / n) * (svv - (sv * sv) / n));
    const r = n > 1 && den > 1e-9 ? (suv - (su * sv) / n) / den : 0;
    if (r > best) best = r;
  }
  return best;
}

/**
 * The mirror symmetry of a whole grey plane (one value per pixel, row by row). image.ts bins
 * pixels as it reads them instead; this is for callers that hold a plane.
 */
export function planeSymmetry(data: ArrayLike<number>, width: number, height: number): number {
  const grid = symmetryGrid(width, height);
  for (let y = 0; y < height; y++) {
    const rowBase = grid.rowCell[y] * SYMMETRY_GRID;
    for (let x = 0; x < width; x++) {
      const c = rowBase + grid.colCell[x];
      grid.sums[c] += data[y * width + x];
      grid.counts[c]++;
    }
  }
  return mirrorSymmetry(grid);
}

/**
 * Asymmetry, the quantity the gate models: 1 − symmetry (0 for a perfect mirror image, up to 2),
 * floored so that its logarithm (the log-normal fit of the learned check) stays finite.
 */
export function asymmetry(symmetry: number): number {
  return Math.max(1e-3, 1 - symmetry);
}
