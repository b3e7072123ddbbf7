import { Injectable } from '@nestjs/common';

import type { CallOptions } from '../client/wecom.client.js';
import { WeComClient } from '../client/wecom.client.js';
import { WeComSettings } from '../wecom-settings.js';

/**
 * Updates an interactive card after someone clicked it, with the ResponseCode of the click
 * event (good once, for 72 hours): the buttons are replaced by one inactive label.
 */
@Injectable()
export class WeComCardUpdater {
  constructor(
    private readonly client: WeComClient,
    private readonly settings: WeComSettings,
  ) {}

  /** Returns the userids WeCom refused (not recipients of that card). */
  async markAnswered(
    responseCode: string,
    userids: string[],
    label: string,
    options?: CallOptions,
  ): Promise<string[]> {
    const res = await this.client.updateTemplateCard(
      {
        userids,
        agentid: (await this.settings.credentials()).agentId,
        response_code: responseCode,
        button: { replace_name: label },
      },
      options,
    );
    return res.invaliduser ?? [];
  }
}
