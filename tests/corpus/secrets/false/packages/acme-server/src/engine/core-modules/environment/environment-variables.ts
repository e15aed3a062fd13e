import { IsOptional, IsString } from 'class-validator';

export class EnvironmentVariables {
  @IsString()
  AUTH_GOOGLE_CLIENT_SECRET: string;

  @IsOptional()
  AUTH_MICROSOFT_CLIENT_SECRET?: string;

  PG_DATABASE_PASSWORD: string;

  APP_SECRET: string;

  ACCESS_TOKEN_SECRET = 'replace_me_with_a_random_string_access';

  LOGIN_TOKEN_SECRET = 'replace_me_with_a_random_string_login';
}
