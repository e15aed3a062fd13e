export const isPrivateKey = (pem: string) =>
  pem.startsWith('-----BEGIN RSA PRIVATE KEY-----') ||
  pem.startsWith('-----BEGIN PRIVATE KEY-----');
