/** The OpenAPI 3.1 description of the HTTP API, served at /api/openapi.json. */

const proportion = {
  type: 'object',
  required: ['k', 'n', 'estimate', 'ci95'],
  properties: {
    k: { type: 'integer' },
    n: { type: 'integer' },
    estimate: { type: ['number', 'null'] },
    ci95: { type: ['array', 'null'], items: { type: 'number' }, minItems: 2, maxItems: 2, description: 'Wilson score 95% interval' },
  },
};

const operatingPoint = {
  type: ['object', 'null'],
  description: 'How the operating threshold did on the run\'s own test set.',
  properties: {
    threshold: { type: 'number' },
    sensitivity: { $ref: '#/components/schemas/Proportion' },
    specificity: { $ref: '#/components/schemas/Proportion' },
    confusion: { type: 'object', properties: { tp: { type: 'integer' }, fn: { type: 'integer' }, tn: { type: 'integer' }, fp: { type: 'integer' } } },
  },
};

const modelRef = {
  type: 'object',
  required: ['runId', 'backbone', 'weights', 'weightsNote', 'warning'],
  properties: {
    runId: { type: 'string' },
    backbone: { type: 'string' },
    weights: { enum: ['imagenet', 'synthetic', 'unknown'], description: '"synthetic" = the backbone has no trained weights and every result is meaningless' },
    weightsNote: { type: 'string' },
    warning: { type: ['string', 'null'] },
  },
};

const heatmap = {
  type: ['object', 'null'],
  properties: {
    method: { enum: ['cam', 'occlusion'] },
    meaning: { type: 'string' },
    colourMap: { type: 'string' },
    heatmapPng: { type: 'string', contentEncoding: 'base64', contentMediaType: 'image/png', description: 'coloured heatmap alone, crop-sized RGBA; alpha = heat value (transparent where there is nothing to show)' },
    overlayPng: { type: 'string', contentEncoding: 'base64', contentMediaType: 'image/png', description: 'heatmap blended over the grey crop at overlayAlpha' },
    overlayAlpha: { type: 'number' },
  },
};

const prediction = {
  type: 'object',
  required: ['file', 'probability', 'label', 'threshold', 'operatingPoint', 'model', 'image', 'crop', 'heatmaps', 'timings', 'notice'],
  properties: {
    file: { type: 'string', description: 'the uploaded file name (display only)' },
    probability: { type: 'number', minimum: 0, maximum: 1, description: 'P(COVID)' },
    label: { enum: ['covid', 'non'], description: '"covid" when probability >= threshold' },
    threshold: { type: 'number', description: 'the run\'s operating threshold, chosen on validation data' },
    operatingPoint: { $ref: '#/components/schemas/OperatingPoint' },
    model: { $ref: '#/components/schemas/ModelRef' },
    image: { type: 'object', properties: { format: { type: 'string' }, width: { type: 'integer' }, height: { type: 'integer' }, bitDepth: { type: 'integer' } } },
    crop: { type: 'object', properties: { width: { type: 'integer' }, height: { type: 'integer' }, png: { type: 'string', contentEncoding: 'base64', contentMediaType: 'image/png', description: 'the grey crop the model saw' } } },
    heatmaps: { type: 'object', properties: { cam: { $ref: '#/components/schemas/Heatmap' }, occlusion: { $ref: '#/components/schemas/Heatmap' } } },
    timings: {
      type: 'object',
      description: 'milliseconds per stage',
      properties: Object.fromEntries(['queuedMs', 'decodeMs', 'preprocessMs', 'inferenceMs', 'camMs', 'occlusionMs', 'encodeMs', 'totalMs'].map((k) => [k, { type: k === 'occlusionMs' ? ['number', 'null'] : 'number' }])),
    },
    notice: { type: 'string' },
  },
};

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
};

const err = (description: string, codes: string[]) => ({
  description: `${description} (error codes: ${codes.join(', ')})`,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

/** Builds the OpenAPI document. */
export function openApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'deep-covid',
      version,
      description: 'COVID-19 detection in chest X-rays by deep transfer learning (Deep-COVID). Research software, not a diagnostic device. Uploads are processed in memory and never stored.',
      license: { name: 'MIT' },
    },
    paths: {
      '/api/predict': {
        post: {
          summary: 'P(COVID) of one chest X-ray, with its label at the run\'s threshold and heatmaps',
          parameters: [
            { name: 'occlusion', in: 'query', required: false, schema: { enum: ['0', '1', 'true', 'false'] }, description: 'also compute an occlusion-sensitivity map (slower: 50 backbone passes of 32 x 32-pixel patches)' },
            { name: 'name', in: 'query', required: false, schema: { type: 'string', maxLength: 200 }, description: 'display name of a raw-body upload (never used as a path)' },
          ],
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': { schema: { type: 'object', properties: { file: { type: 'string', format: 'binary' } }, required: ['file'] } },
              'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
              'image/png': { schema: { type: 'string', format: 'binary' } },
              'image/jpeg': { schema: { type: 'string', format: 'binary' } },
              'application/dicom': { schema: { type: 'string', format: 'binary' } },
            },
            description: 'PNG, JPEG, TIFF, WebP or DICOM; the format is detected from the content. One image per request.',
          },
          responses: {
            200: { description: 'the prediction', content: { 'application/json': { schema: { $ref: '#/components/schemas/Prediction' } } } },
            400: err('bad request: no file, several files, a malformed multipart body, or a bad, repeated or unknown query parameter', ['bad-request', 'no-file', 'bad-multipart']),
            403: err('the Host header is not one this server answers to (DNS rebinding), or the request comes from another site (Origin / Sec-Fetch-Site)', ['host-not-allowed', 'cross-origin']),
            413: err('the upload is over the byte limit (refused from Content-Length before it is read), or the image over the pixel limit', ['upload-too-large', 'too-many-pixels']),
            415: err('not an image, or an image format deep-covid cannot read', ['not-an-image', 'unsupported-format', 'unsupported-media-type']),
            422: err('an image that cannot be decoded', ['empty', 'truncated', 'corrupt', 'too-small']),
            503: { ...err('too many uploads are being received or analysed, or their bytes would exceed the server\'s memory budget; refused from the headers alone (the connection is closed), retry after the Retry-After header\'s seconds', ['busy']), headers: { 'Retry-After': { schema: { type: 'integer' } } } },
          },
        },
      },
      '/api/model': {
        get: {
          summary: 'the served run\'s model card: backbone, weights, training data, threshold, test results with 95% intervals, intended use',
          responses: { 200: { description: 'model card', content: { 'application/json': { schema: { type: 'object' } } } } },
        },
      },
      '/api/openapi.json': { get: { summary: 'this document', responses: { 200: { description: 'OpenAPI 3.1 document' } } } },
      '/healthz': {
        get: {
          summary: 'liveness and queue state',
          responses: { 200: { description: 'ok', content: { 'application/json': { schema: { type: 'object', properties: { status: { const: 'ok' }, runId: { type: 'string' }, running: { type: 'integer' }, waiting: { type: 'integer', description: 'admitted requests not running: receiving their upload or waiting for a slot' }, bytesInFlight: { type: 'integer', description: 'upload bytes reserved by admitted requests' } } } } } } },
        },
      },
    },
    components: {
      schemas: { Proportion: proportion, OperatingPoint: operatingPoint, ModelRef: modelRef, Heatmap: heatmap, Prediction: prediction, Error: errorSchema },
    },
  };
}
