/**
 * Typed errors. Every error a user can meet says what went wrong, with which file or
 * setting, and what to do about it. Catch `DeepCovidError` to handle all of them.
 */

/** Stable machine-readable codes of deep-covid's errors. */
export type ErrorCode = 'E_INPUT' | 'E_MODEL_NOT_FOUND' | 'E_MODEL' | 'E_DATASET' | 'E_USAGE' | 'E_RUN' | 'E_QUEUE' | 'E_PACS';

/** Base class of every error deep-covid raises on purpose. */
export class DeepCovidError extends Error {
  /** Stable machine-readable code, e.g. `E_INPUT`. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** What is wrong with an input image file. */
export type InputProblem =
  | 'empty' // zero bytes
  | 'truncated' // the data ends before the image does
  | 'not-an-image' // content is no known image format (decided by magic bytes, not extension)
  | 'unsupported' // a known format or variant deep-covid cannot read (e.g. colour DICOM, multi-frame)
  | 'too-large' // over the pixel limit (checked before decoding)
  | 'too-small' // fewer pixels than any model can use
  | 'corrupt' // the decoder failed for another reason
  | 'unreadable'; // the file could not be read from disk

/** A bad input image. The message always names the file and the problem. */
export class InputError extends DeepCovidError {
  readonly file: string;
  readonly problem: InputProblem;
  constructor(file: string, problem: InputProblem, detail: string, options?: { cause?: unknown }) {
    super('E_INPUT', `${file}: ${detail}`, options);
    this.file = file;
    this.problem = problem;
  }
}

/** A model file could not be found (the message lists every place that was searched). */
export class ModelNotFoundError extends DeepCovidError {
  constructor(message: string) {
    super('E_MODEL_NOT_FOUND', message);
  }
}

/** A model file exists but cannot be used (not ONNX, no feature tensor found, checksum mismatch). */
export class ModelError extends DeepCovidError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_MODEL', message, options);
  }
}

/** A dataset folder or manifest is missing, empty or inconsistent. */
export class DatasetError extends DeepCovidError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_DATASET', message, options);
  }
}

/** A bad command-line argument, option or configuration value. */
export class UsageError extends DeepCovidError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}

/** A run directory is missing, incomplete, or would be overwritten. */
export class RunError extends DeepCovidError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_RUN', message, options);
  }
}

/** A job queue (Redis) cannot be reached or used; the message names the address and what to do. */
export class QueueError extends DeepCovidError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_QUEUE', message, options);
  }
}

/** A PACS (DICOMweb or DICOM network peer) refused, failed or answered something unusable. */
export class PacsError extends DeepCovidError {
  /** HTTP status or DIMSE status, when the peer gave one. */
  readonly status: number | null;
  constructor(message: string, status: number | null = null, options?: { cause?: unknown }) {
    super('E_PACS', message, options);
    this.status = status;
  }
}
