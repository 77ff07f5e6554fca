// Slipway's release step for Jenkins, as a shared-library step (put it in the library's `vars/`
// folder as slipwayRelease.groovy). Seed 003: one pipeline shared by every service. It runs the
// one shared script, ci/slipway-release.sh (a checkout of this repository, or the path given),
// with its inputs as environment variables:
//
//   slipwayRelease(
//     credentialsId: 'slipway-token',          // a Secret text credential holding the token
//     server: 'https://slipway.example.com',
//     project: 'pets',
//     version: env.TAG_NAME,
//     artifacts: 'pets-web=target/pets.war',
//     env: 'DEV',
//     testResults: 'e2e=target/failsafe-reports/TEST-e2e.xml',
//     coverage: 'unit=target/site/cobertura/coverage.xml',
//     scans: 'pets-web=trivy.json',
//   )
def call(Map config = [:]) {
    ['credentialsId', 'server', 'project', 'version'].each { key ->
        if (!config[key]) {
            error("slipwayRelease: `${key}` is missing; see ci/slipway-release.sh for every input")
        }
    }
    def script = config.script ?: 'ci/slipway-release.sh'
    def inputs = [
        "SLIPWAY_SERVER=${config.server}",
        "SLIPWAY_PROJECT=${config.project}",
        "SLIPWAY_VERSION=${config.version}",
        "SLIPWAY_ARTIFACTS=${config.artifacts ?: ''}",
        "SLIPWAY_LIKE=${config.like ?: ''}",
        "SLIPWAY_ENV=${config.env ?: ''}",
        "SLIPWAY_TEST_RESULTS=${config.testResults ?: ''}",
        "SLIPWAY_COVERAGE=${config.coverage ?: ''}",
        "SLIPWAY_SCANS=${config.scans ?: ''}",
        "SLIPWAY_UNSIGNED_OK=${config.unsignedOk ? 'true' : 'false'}",
        "SLIPWAY_COMMIT=${env.GIT_COMMIT ?: ''}",
        "SLIPWAY_BRANCH=${env.BRANCH_NAME ?: ''}",
        "SLIPWAY_PIPELINE_URL=${env.BUILD_URL ?: ''}",
        "SLIPWAY_LAUNCH=jenkins-${env.JOB_NAME}-${env.BUILD_NUMBER}",
    ]
    withCredentials([string(credentialsId: config.credentialsId, variable: 'SLIPWAY_TOKEN')]) {
        withEnv(inputs) {
            sh "bash '${script}'"
        }
    }
}
