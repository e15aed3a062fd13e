export const s3 = {
  region: 'eu-west-3',
  accessKeyId: 'AKIAXTY3B2UXMRMXMZIC',
  secretAccessKey: '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',
};
