import path from 'node:path';

import { RuleTester } from 'eslint';
import tseslint from 'typescript-eslint';

import rule from '../../eslint-rules/module-boundaries.mjs';

// The rule reads no files: these paths only have to sit under srcDir (and the cwd, for ESLint).
const srcDir = path.join(process.cwd(), 'src');
const options = [{ srcDir }];
const inSrc = (file: string) => path.join(srcDir, file);

const tester = new RuleTester({
  languageOptions: { parser: tseslint.parser, ecmaVersion: 2023, sourceType: 'module' },
});

const foreign = (owner: string, kind: 'entity (its table)' | 'repository', source: string) => ({
  messageId: 'foreignTable',
  data: { source, owner, kind },
});

tester.run('module-boundaries', rule, {
  valid: [
    {
      name: 'its own entity',
      filename: inSrc('interviews/interviews.service.ts'),
      code: "import { InterviewEntity } from './interview.entity.js';",
      options,
    },
    {
      name: 'its own entity, from another folder of the same module',
      filename: inSrc('wecom/callback/wecom-callback.service.ts'),
      code: "import { WeComCredentialEntity } from '../token/wecom-credential.entity.js';",
      options,
    },
    {
      name: "another module's exported service",
      filename: inSrc('sign-in/sign-in.service.ts'),
      code: "import { UserMappingsService } from '../user-mappings/user-mappings.service.js';",
      options,
    },
    {
      name: "another module's shared types in a non-entity file",
      filename: inSrc('interviews/interview-notifier.ts'),
      code: "import type { MappingStatus } from '../user-mappings/mapping-status.js';",
      options,
    },
    {
      name: 'a file whose name only mentions entities',
      filename: inSrc('interviews/interviews.service.ts'),
      code: "import { entityNames } from '../messaging/entity-names.js';",
      options,
    },
    {
      name: 'src/entities.ts, the list the TypeORM CLI reads',
      filename: inSrc('entities.ts'),
      code: "import { MessageEntity } from './messaging/message.entity.js';",
      options,
    },
    {
      name: 'a migration',
      filename: inSrc('database/migrations/1763899200000-WeComEvents.ts'),
      code: "import { WeComEventEntity } from '../../wecom/callback/wecom-event.entity.js';",
      options,
    },
    {
      name: 'a unit spec, for fixtures',
      filename: inSrc('interviews/interviews.service.spec.ts'),
      code: "import { MessageEntity } from '../messaging/message.entity.js';",
      options,
    },
    {
      name: 'an e2e spec outside src/',
      filename: path.join(process.cwd(), 'test/interviews.e2e-spec.ts'),
      code: "import { MessageEntity } from '../src/messaging/message.entity.js';",
      options,
    },
    {
      name: 'a package',
      filename: inSrc('interviews/interviews.service.ts'),
      code: "import { Repository } from 'typeorm';",
      options,
    },
  ],
  invalid: [
    {
      name: "another module's entity",
      filename: inSrc('interviews/interviews.service.ts'),
      code: "import { MessageEntity } from '../messaging/message.entity.js';",
      options,
      errors: [foreign('src/messaging', 'entity (its table)', '../messaging/message.entity.js')],
    },
    {
      name: "another module's entity, for its type only",
      filename: inSrc('interviews/interview-notifier.ts'),
      code: "import type { UserMappingEntity } from '../user-mappings/user-mapping.entity.js';",
      options,
      errors: [
        foreign(
          'src/user-mappings',
          'entity (its table)',
          '../user-mappings/user-mapping.entity.js',
        ),
      ],
    },
    {
      name: "another module's repository",
      filename: inSrc('sign-in/sign-in.service.ts'),
      code: "import { UserMappingsRepository } from '../user-mappings/user-mappings.repository.js';",
      options,
      errors: [
        foreign('src/user-mappings', 'repository', '../user-mappings/user-mappings.repository.js'),
      ],
    },
    {
      name: 'from a nested folder, without an extension',
      filename: inSrc('interviews/dto/interview.dto.ts'),
      code: "import { MappingStatus } from '../../user-mappings/user-mapping.entity';",
      options,
      errors: [
        foreign(
          'src/user-mappings',
          'entity (its table)',
          '../../user-mappings/user-mapping.entity',
        ),
      ],
    },
    {
      name: 'from a file at the root of src/',
      filename: inSrc('app.module.ts'),
      code: "import { MessageEntity } from './messaging/message.entity.js';",
      options,
      errors: [foreign('src/messaging', 'entity (its table)', './messaging/message.entity.js')],
    },
    {
      name: 're-exported',
      filename: inSrc('interviews/index.ts'),
      code: "export { MessageEntity } from '../messaging/message.entity.js';",
      options,
      errors: [{ messageId: 'foreignTable' }],
    },
    {
      name: 're-exported wholesale',
      filename: inSrc('interviews/index.ts'),
      code: "export * from '../messaging/message.entity.js';",
      options,
      errors: [{ messageId: 'foreignTable' }],
    },
    {
      name: 'imported at run time',
      filename: inSrc('interviews/interviews.service.ts'),
      code: "const { MessageEntity } = await import('../messaging/message.entity.js');",
      options,
      errors: [{ messageId: 'foreignTable' }],
    },
    {
      name: 'named in an import type',
      filename: inSrc('interviews/interviews.service.ts'),
      code: "type Row = import('../messaging/message.entity.js').MessageEntity;",
      options,
      errors: [{ messageId: 'foreignTable' }],
    },
  ],
});
