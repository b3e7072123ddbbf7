import { Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';

import { readContactChange } from '../wecom/callback/contact-change-event.js';
import {
  WeComEventHandlers,
  type WeComCallbackEvent,
} from '../wecom/callback/wecom-event-handlers.js';
import type { MappingStatus } from './member.js';
import { UserMappingsService } from './user-mappings.service.js';

/** WeCom's member status (user/get, change_contact Status) as a mapping status. */
const STATUS_OF: Record<number, MappingStatus> = {
  1: 'active',
  4: 'active',
  2: 'disabled',
  5: 'left',
};

/**
 * Keeps mappings in step with WeCom's contact events (change_contact): a member removed from the
 * corp (`delete_user`, or `update_user` with Status 5) leaves their mapping `left`, a disabled
 * one (Status 2) `disabled` until re-enabled, and a changed userid (`update_user` with
 * NewUserID) is followed. Every change is conditional on the current state, so an event handled
 * twice changes nothing the second time.
 */
@Injectable()
export class MappingContactSync implements OnModuleInit, OnModuleDestroy {
  private unregister?: () => void;

  constructor(
    private readonly handlers: WeComEventHandlers,
    private readonly mappings: UserMappingsService,
  ) {}

  onModuleInit(): void {
    this.unregister = this.handlers.register('change_contact', (e) => this.onContactChange(e));
  }

  onModuleDestroy(): void {
    this.unregister?.();
  }

  /** Errors propagate to the callback service, which records them on the event row. */
  async onContactChange(event: WeComCallbackEvent): Promise<void> {
    const change = readContactChange(event.fields);
    if (!change) return; // departments and tags: nothing of ours
    if (change.changeType === 'delete_user') {
      await this.mappings.setMemberStatus(change.userId, 'left');
      return;
    }
    if (change.changeType !== 'update_user') return;
    let current = change.userId;
    if (change.newUserId && change.newUserId.toLowerCase() !== change.userId.toLowerCase()) {
      await this.mappings.renameMember(change.userId, change.newUserId);
      current = change.newUserId;
    }
    const status = change.status === null ? undefined : STATUS_OF[change.status];
    if (status) await this.mappings.setMemberStatus(current, status);
  }
}
