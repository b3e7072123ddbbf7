import { Global, Module } from '@nestjs/common';

import { Clock, SystemClock } from './clock.js';

/** The system clock for everyone; specs override `Clock` with a ManualClock. */
@Global()
@Module({ providers: [{ provide: Clock, useClass: SystemClock }], exports: [Clock] })
export class ClockModule {}
