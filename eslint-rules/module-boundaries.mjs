/**
 * Each module owns its tables (#19): a file in one module folder (a top-level folder under
 * src/, such as src/interviews or src/wecom) may not import another module's `*.entity.ts` or
 * `*.repository.ts`, not even for a type, because an entity's type is still that module's table
 * shape. Other modules' data comes through the owner's exported service.
 *
 * Not checked: src/entities.ts (every entity, for the TypeORM CLI and the schema spec), the
 * migrations, spec files (fixtures may use any entity), and files outside src/ (test/, bench/).
 * Options: `{ srcDir }`, the absolute path of src/.
 */
import path from 'node:path';

const TABLE_FILE = /\.(entity|repository)(\.[cm]?[jt]s)?$/;
const SPEC_FILE = /\.([a-z0-9]+-)?spec\.[cm]?[jt]s$/;

/** The module of a path relative to src/: its first folder, or '' for a file at src/'s root. */
function moduleOf(relative) {
  const parts = relative.split(path.sep);
  return parts.length > 1 ? parts[0] : '';
}

function exempt(relative) {
  return (
    relative === 'entities.ts' ||
    relative.startsWith(`database${path.sep}migrations${path.sep}`) ||
    SPEC_FILE.test(relative)
  );
}

/** @type {import('eslint').Rule.RuleModule} */
const rule = {
  meta: {
    type: 'problem',
    docs: {
      description: "Forbid importing another module's entities or repositories",
    },
    schema: [
      {
        type: 'object',
        properties: { srcDir: { type: 'string' } },
        required: ['srcDir'],
        additionalProperties: false,
      },
    ],
    messages: {
      foreignTable:
        "'{{source}}' is the {{owner}} module's {{kind}}: a module touches only its own tables. " +
        "Ask the owning module's exported service; shared types belong in a non-entity file.",
    },
  },

  create(context) {
    const srcDir = path.resolve(context.options[0].srcDir);
    const importer = path.relative(srcDir, context.filename);
    if (importer.startsWith('..') || path.isAbsolute(importer) || exempt(importer)) return {};
    const importerModule = moduleOf(importer);
    const dir = path.dirname(context.filename);

    /** Reports `source` (a string literal node) when it names another module's table file. */
    function check(source) {
      if (!source || typeof source.value !== 'string' || !source.value.startsWith('.')) return;
      const match = TABLE_FILE.exec(source.value);
      if (!match) return;
      const target = path.relative(srcDir, path.resolve(dir, source.value));
      if (target.startsWith('..') || path.isAbsolute(target)) return;
      const owner = moduleOf(target);
      if (owner === importerModule) return;
      context.report({
        node: source,
        messageId: 'foreignTable',
        data: {
          source: source.value,
          owner: owner ? `src/${owner}` : 'src',
          kind: match[1] === 'entity' ? 'entity (its table)' : 'repository',
        },
      });
    }

    return {
      ImportDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
      // `typeof import('../x/x.entity.js')` and `import x = require('../x/x.entity.js')`.
      TSImportType: (node) => check(node.source ?? node.argument?.literal),
      TSExternalModuleReference: (node) => check(node.expression),
    };
  },
};

export default rule;
