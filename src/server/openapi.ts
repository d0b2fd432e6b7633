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
    unit: { type: 'string', description: 'unit of the map values: "logit" (CAM) or "drop in P(COVID)" (occlusion)' },
    max: { type: 'number', description: 'the map\'s largest value, shown at full colour in heatmapPng' },
    heatmapPng: { type: 'string', contentEncoding: 'base64', contentMediaType: 'image/png', description: 'coloured heatmap alone scaled to its own maximum, crop-sized RGBA; alpha = heat value (transparent where there is nothing to show)' },
    fixed: {
      type: 'object',
      description: 'the same layer on the fixed scale shared by every image: 0 to max (in unit) at full colour, so a faint map stays faint',
      properties: { max: { type: 'number' }, heatmapPng: { type: 'string', contentEncoding: 'base64', contentMediaType: 'image/png' } },
    },
    overlayPng: { type: 'string', contentEncoding: 'base64', contentMediaType: 'image/png', description: 'heatmap blended over the grey crop, up to overlayAlpha where the map is strongest' },
    overlayAlpha: { type: 'number' },
  },
};

const reason = {
  type: 'object',
  required: ['code', 'level', 'message'],
  properties: {
    code: { type: 'string', description: 'stable reason code, e.g. not-radiograph, lateral-view, too-small, colour-picture, out-of-distribution, not-frontal, gate-disabled' },
    level: { enum: ['refuse', 'warn', 'note'] },
    message: { type: 'string', description: 'the reason in plain words' },
  },
};

const gate = {
  type: 'object',
  description: 'The input gate: is this a frontal chest radiograph like the ones the model was trained on? Refused images get no probability.',
  required: ['verdict', 'reasons', 'header', 'image', 'ood'],
  properties: {
    verdict: { enum: ['passed', 'warned', 'refused'], description: 'refused: no P(COVID) at all; warned: P(COVID) with the warning first; passed: nothing found' },
    reasons: { type: 'array', items: reason, description: 'refusals first, then warnings, then notes' },
    header: { type: ['object', 'null'], description: 'DICOM header facts (modality, bodyPart, viewPosition, …; null fields: tag absent); null for other formats' },
    image: { type: ['object', 'null'], description: 'pixel facts: width, height, aspect, greyStd, storedChannels, colourFraction, meanChroma, symmetry (left-right mirror symmetry, -1 to 1)' },
    ood: {
      type: ['object', 'null'],
      description: 'learned check: distance of the image\'s features from the training images\'; cut-offs set from out-of-fold scores of the run\'s own training and validation images (older runs: the validation split); never from test images',
      properties: {
        score: { type: 'number' }, cutoff: { type: 'number', description: 'the score alone warns above this (runs whose gate.json has no mirror-symmetry calibration)' }, farCutoff: { type: 'number', description: 'refused above this' },
        flagged: { type: 'boolean' }, method: { type: 'string' },
        symmetry: { type: 'number', description: 'the image\'s mirror symmetry, weighed with the score (gate.json version 3)' },
        evidence: { type: 'number', description: 'score and asymmetry as z-values on the run\'s own images, summed; flagged when above evidenceCutoff (gate.json version 3)' },
        evidenceCutoff: { type: 'number' },
      },
    },
    disabled: { const: true, description: 'present when the gate was switched off' },
  },
};

const prediction = {
  type: 'object',
  required: ['file', 'gate', 'probability', 'label', 'threshold', 'operatingPoint', 'model', 'image', 'crop', 'fullImage', 'heatmaps', 'timings', 'notice'],
  properties: {
    file: { type: 'string', description: 'the uploaded file name (display only)' },
    gate,
    probability: { type: ['number', 'null'], minimum: 0, maximum: 1, description: 'P(COVID); null when the gate refused the image' },
    label: { enum: ['covid', 'non', null], description: '"covid" when probability >= threshold; null when refused' },
    threshold: { type: 'number', description: 'the run\'s operating threshold, chosen on validation data' },
    operatingPoint: { $ref: '#/components/schemas/OperatingPoint' },
    model: { $ref: '#/components/schemas/ModelRef' },
    image: { type: 'object', properties: { format: { type: 'string' }, width: { type: 'integer' }, height: { type: 'integer' }, bitDepth: { type: 'integer' } } },
    crop: { type: 'object', properties: { width: { type: 'integer' }, height: { type: 'integer' }, png: { type: 'string', contentEncoding: 'base64', contentMediaType: 'image/png', description: 'the grey crop the model saw' } } },
    fullImage: {
      type: 'object',
      description: 'the whole image shrunk for display (longest side at most 768), and where the model\'s crop lies in it as fractions of its width and height',
      properties: {
        width: { type: 'integer' }, height: { type: 'integer' },
        jpeg: { type: 'string', contentEncoding: 'base64', contentMediaType: 'image/jpeg' },
        cropBox: { type: 'object', properties: { left: { type: 'number' }, top: { type: 'number' }, width: { type: 'number' }, height: { type: 'number' } } },
      },
    },
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
          summary: 'the served run\'s (or ensemble\'s) model card: backbone, weights, training data, threshold, test results with 95% intervals (test.prevalence: the class mix P(COVID) is calibrated to; test.predictiveValues: PPV and NPV at 1%, 5%, 10% and that prevalence), intended use; an ensemble\'s card adds `ensemble` (its member runs, and whether their probabilities or log-odds are averaged)',
          responses: {
            200: {
              description: 'model card',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    properties: {
                      runId: { type: 'string', description: 'the run\'s or the ensemble\'s id' },
                      model: { $ref: '#/components/schemas/ModelRef' },
                      threshold: { type: 'object', description: 'the operating threshold, chosen on validation, and how' },
                      ensemble: {
                        type: 'object',
                        description: 'present only when the server serves an ensemble folder',
                        properties: {
                          combine: { enum: ['probability', 'logit'] },
                          validationAuc: { type: 'object', properties: { probability: { type: 'number' }, logit: { type: 'number' } } },
                          members: { type: 'array', items: { type: 'object', properties: { runId: { type: 'string' }, backbone: { type: 'string' }, weights: { enum: ['imagenet', 'synthetic', 'unknown'] }, sha256: { type: 'string' } } } },
                        },
                      },
                      limits: { type: 'object', properties: { maxUploadBytes: { type: 'integer' }, maxPixels: { type: 'integer' }, concurrency: { type: 'integer' }, maxQueued: { type: 'integer' } } },
                    },
                  },
                },
              },
            },
          },
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
