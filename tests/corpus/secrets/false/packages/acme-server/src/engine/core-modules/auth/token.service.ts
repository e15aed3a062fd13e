const secret = this.environmentService.get('ACCESS_TOKEN_SECRET');
const token = this.jwtService.sign(payload, { secret, expiresIn });
const apiKey = request.headers['x-api-key'];
const password = await bcrypt.hash(plainPassword, 10);
