import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';

import { AuthGuard } from './auth.guard.js';
import { JwtVerifier } from './jwt-verifier.js';
import { MeController } from './me.controller.js';
import { RateLimitCountersRepository } from './rate-limit-counters.repository.js';
import { AddressRateLimitGuard, UserRateLimitGuard } from './rate-limit.guard.js';
import { rateLimitStoreProvider } from './rate-limit.store.js';

@Global()
@Module({
  controllers: [MeController],
  // In this order: the address limit before authentication, the per-user one after it.
  providers: [
    JwtVerifier,
    RateLimitCountersRepository,
    rateLimitStoreProvider,
    { provide: APP_GUARD, useClass: AddressRateLimitGuard },
    { provide: APP_GUARD, useClass: AuthGuard },
    { provide: APP_GUARD, useClass: UserRateLimitGuard },
  ],
  exports: [JwtVerifier],
})
export class AuthModule {}
