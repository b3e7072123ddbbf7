import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';

import { AuthGuard } from './auth.guard.js';
import { JwtVerifier } from './jwt-verifier.js';
import { MeController } from './me.controller.js';
import { RateLimitGuard } from './rate-limit.guard.js';

@Global()
@Module({
  controllers: [MeController],
  // Order matters: the rate limit counts per user, so it runs after authentication.
  providers: [
    JwtVerifier,
    { provide: APP_GUARD, useClass: AuthGuard },
    { provide: APP_GUARD, useClass: RateLimitGuard },
  ],
  exports: [JwtVerifier],
})
export class AuthModule {}
