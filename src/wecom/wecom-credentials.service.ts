import { Injectable } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';

import { organizationScope } from '../common/organization-scope.js';
import { SettingsChangedEvent } from '../settings/settings-events.js';
import { JsapiTicketProvider } from './jssdk/jsapi-ticket.provider.js';
import { AccessTokenProvider } from './token/access-token.provider.js';

/**
 * The one reaction to an organisation's new WeCom credentials (corp, agent or secret): its access
 * token and both JS-SDK tickets of the old ones are not handed out again; other organisations'
 * are not touched. This instance switches at once; the instance that saved the change also
 * deletes the stored ones, before the admin's request returns (RuntimeSettings awaits this
 * handler), so that no instance picks them up again. An instance that only saw the change
 * leaves the rows alone: by then they may hold the new token.
 */
@Injectable()
export class WeComCredentialsService {
  constructor(
    private readonly tokens: AccessTokenProvider,
    private readonly tickets: JsapiTicketProvider,
  ) {}

  @OnEvent(SettingsChangedEvent.key)
  async onSettingsChanged(event: SettingsChangedEvent): Promise<void> {
    if (!event.credentialsChanged) return;
    // The event's organisation, named: whatever context the event was published from.
    await organizationScope.run(event.organization, async () => {
      // Synchronously, before the first await: no call after the change gets an old value here.
      this.tokens.useCredentials(event.next);
      this.tickets.useCredentials(event.next);
      if (event.origin !== 'here') return;
      await this.tokens.dropStored(event.previous);
      await this.tickets.dropStored(event.previous);
    });
  }
}
