import { Injectable } from '@nestjs/common';

import { Clock } from '../common/clock.js';
import { RuntimeSettings } from '../settings/runtime-settings.js';
import { UserMappingsService } from '../user-mappings/user-mappings.service.js';
import type {
  UnmappedParticipantDto,
  UnmappedParticipantListDto,
} from './dto/unmapped-participant.dto.js';
import { RecentParticipantsRepository } from './recent-participants.repository.js';

/** Participants looked at per call: enough for a company's month, bounded for the database. */
const MAX_PARTICIPANTS = 2000;
const DAY_MS = 86_400_000;

/**
 * Who WeCom will not reach among the people of recent and upcoming interviews: participants with
 * no mapping, or whose member left or is disabled. For an admin to map them before it matters.
 */
@Injectable()
export class UnmappedParticipantsService {
  constructor(
    private readonly participants: RecentParticipantsRepository,
    private readonly mappings: UserMappingsService,
    private readonly runtime: RuntimeSettings,
    private readonly clock: Clock,
  ) {}

  async list(days: number): Promise<UnmappedParticipantListDto> {
    const now = this.clock.now();
    const since = new Date(now.getTime() - days * DAY_MS);
    const rows = await this.participants.since(since, now, MAX_PARTICIPANTS + 1);
    const truncated = rows.length > MAX_PARTICIPANTS;
    const people = rows.slice(0, MAX_PARTICIPANTS);
    const { corpId } = await this.runtime.current();
    const members = await this.mappings.membersOf(
      corpId,
      people.map((p) => p.platformUserId),
    );
    const items: UnmappedParticipantDto[] = [];
    for (const p of people) {
      const status = members.get(p.platformUserId)?.status;
      if (status === 'active') continue;
      items.push({
        platformUserId: p.platformUserId,
        wecom: status ?? 'unmapped',
        interviewCount: p.interviewCount,
        interviewId: p.interviewId,
        title: p.title,
        startsAt: p.startsAt.toISOString(),
        role: p.role,
      });
    }
    // The soonest-affected first: upcoming interviews before past ones, nearest first.
    const urgency = (i: UnmappedParticipantDto) => {
      const ahead = Date.parse(i.startsAt) - now.getTime();
      return ahead >= 0 ? ahead : 1e15 - ahead;
    };
    items.sort((a, b) => urgency(a) - urgency(b));
    return { items, truncated };
  }
}
