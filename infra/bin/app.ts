import { App } from 'aws-cdk-lib';
import { ConfigError, loadConfig, type PlatformConfig } from '../../core/platform-config';
import { applyNagChecks } from '../nag';
import { addPlatformStacks } from '../platform';

const app = new App();
addPlatformStacks(app, readConfig(app));
applyNagChecks(app);
app.synth();

/** The config file named by the `config` context: cdk.json's default, or `cdk synth -c config=prod.json`. */
function readConfig(app: App): PlatformConfig {
  try {
    const path: unknown = app.node.tryGetContext('config');
    if (typeof path !== 'string' || path === '') {
      throw new ConfigError(`Context "config" must name a config file (received ${JSON.stringify(path)})`);
    }
    return loadConfig(path);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // A config mistake is for the platform engineer to fix: say what is wrong, not where we noticed.
    console.error(error.message);
    process.exit(1);
  }
}
