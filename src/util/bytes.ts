/**
 * Sizes in words, in binary units everywhere (KiB, MiB, GiB: 1 MiB = 1,048,576 bytes), so that a
 * limit set as "50" in one place is never shown as 52 decimal megabytes in another. No Node imports: the web
 * page uses it too.
 */
export function bytesText(n: number): string {
  if (!Number.isFinite(n) || n < 1024) return `${Math.round(n)} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  // one decimal below 10 (0.0195 MiB would read as 0 otherwise), whole numbers above
  const text = v < 10 ? v.toFixed(1).replace(/\.0$/, '') : String(Math.round(v));
  return `${text} ${units[u]}`;
}

/** Mebibytes (2^20 bytes) to bytes, for limits given in MiB. */
export function mibToBytes(mib: number): number {
  return Math.round(mib * 1024 * 1024);
}
