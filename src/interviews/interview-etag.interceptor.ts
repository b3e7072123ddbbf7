import { VersionETag } from '../common/entity-version.js';
import type { InterviewDetailsDto } from './dto/interview.dto.js';

/**
 * A strong `ETag: "<version>"` on every answer that carries an interview: the frontend sends it
 * back as If-Match, and a change based on an older version is refused with 412.
 */
export const InterviewETag = VersionETag<InterviewDetailsDto>((d) => d.interview.version);
