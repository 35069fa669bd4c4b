import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** The context of cdk.json, so tests synthesize with the same feature flags as `cdk synth`. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

/** Context that makes synthesis skip asset bundling (esbuild, the ONNX Runtime layer) in every stack. */
export const SKIP_BUNDLING = { 'aws:cdk:bundling-stacks': [] } as const;

/**
 * An App with the feature flags of cdk.json. Validation findings go to the report instead of
 * failing synthesis, so tests can assert on them; pass `builtinCloudFormationValidation: false`
 * where they are not the subject, to skip the validator's slow first load. Assets are not bundled
 * (see {@link SKIP_BUNDLING}); a test that inspects them passes `'aws:cdk:bundling-stacks': ['**']`.
 */
export function testApp(props: AppProps = {}): App {
  const context = { ...cdkJsonContext(), '@aws-cdk/core:failSynthOnValidationErrors': false, ...SKIP_BUNDLING, ...props.context };
  return new App({ ...props, context });
}

/** One rule a validation plugin reports as violated, with the constructs that violate it. */
export interface Finding {
  readonly plugin: string;
  readonly rule: string;
  readonly severity: string;
  readonly paths: string[];
}

interface ValidationReportJson {
  pluginReports: Array<{
    pluginName: string;
    violations: Array<{
      ruleName: string;
      severity: string;
      violatingConstructs?: Array<{ constructPath?: string }>;
    }>;
  }>;
}

/**
 * Synthesizes the app and returns every finding its validation plugins (cdk-nag, CloudFormation
 * validation, construct annotations) left unacknowledged in the cloud assembly's validation report.
 */
export function unacknowledgedFindings(app: App): Finding[] {
  const report = JSON.parse(readFileSync(join(app.synth().directory, 'validation-report.json'), 'utf8')) as ValidationReportJson;
  return report.pluginReports.flatMap((plugin) =>
    plugin.violations.map((v) => ({
      plugin: plugin.pluginName,
      rule: v.ruleName,
      severity: v.severity,
      paths: (v.violatingConstructs ?? []).map((c) => c.constructPath ?? '?'),
    })),
  );
}

/** One `Validations.of(construct).acknowledge(...)` call. */
export interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

/** Every acknowledgement recorded anywhere under `scope`. */
export function acknowledgements(scope: IConstruct): Acknowledgement[] {
  return scope.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({ path: construct.node.path, id, reason })),
      ),
  );
}
