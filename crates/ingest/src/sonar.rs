//! SonarQube's webhook payload (what a SonarQube server POSTs when an analysis ends), read into
//! what Slipway keeps of it: the project key, the analysis' revision, version and time, and the
//! quality gate's status with its conditions. The body is JSON bounded by the API's body limit;
//! a payload that does not fit names the JSON path of what is wrong.

use std::collections::BTreeMap;

use serde::Deserialize;
use slipway_core::quality::QualityGateStatus;

/// One condition of the quality gate, as SonarQube judged it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SonarCondition {
    pub metric: String,
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    pub status: String,
    #[serde(default, rename = "errorThreshold")]
    pub error_threshold: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Payload {
    #[serde(default, rename = "serverUrl")]
    server_url: Option<String>,
    #[serde(default, rename = "taskId")]
    task_id: Option<String>,
    #[serde(default, rename = "analysedAt")]
    analysed_at: Option<String>,
    #[serde(default)]
    revision: Option<String>,
    project: Project,
    #[serde(default, rename = "qualityGate")]
    quality_gate: Option<Gate>,
    #[serde(default)]
    properties: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Project {
    key: String,
}

#[derive(Debug, Deserialize)]
struct Gate {
    #[serde(default)]
    name: Option<String>,
    status: String,
    #[serde(default)]
    conditions: Vec<SonarCondition>,
}

/// What a SonarQube analysis said, as Slipway keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SonarAnalysis {
    pub project_key: String,
    pub server_url: Option<String>,
    pub task_id: Option<String>,
    pub analysed_at: Option<String>,
    /// The commit analysed.
    pub revision: Option<String>,
    /// `sonar.analysis.version`, else `sonar.projectVersion`: the release it names.
    pub version: Option<String>,
    pub gate_name: Option<String>,
    pub status: QualityGateStatus,
    pub conditions: Vec<SonarCondition>,
}

/// Why a payload was refused.
#[derive(Debug, thiserror::Error)]
pub enum SonarError {
    #[error("the payload is not SonarQube's webhook JSON at {path}: {reason}")]
    NotSonar { path: String, reason: String },
    #[error("the quality gate status {0:?} is not one SonarQube sends (OK, ERROR, WARN, NONE)")]
    UnknownStatus(String),
}

/// Read SonarQube's analysis-done payload.
pub fn read_sonar_webhook(body: &[u8]) -> Result<SonarAnalysis, SonarError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    let payload: Payload =
        serde_path_to_error::deserialize(deserializer).map_err(|e| SonarError::NotSonar {
            path: e.path().to_string(),
            reason: e.inner().to_string(),
        })?;
    let text = |key: &str| {
        payload.properties.get(key).and_then(|v| match v {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        })
    };
    let version = text("sonar.analysis.version").or_else(|| text("sonar.projectVersion"));
    let (gate_name, status, conditions) = match payload.quality_gate {
        Some(gate) => {
            let status = gate
                .status
                .to_ascii_lowercase()
                .parse()
                .map_err(|_| SonarError::UnknownStatus(gate.status.clone()))?;
            (gate.name, status, gate.conditions)
        }
        None => (None, QualityGateStatus::None, Vec::new()),
    };
    Ok(SonarAnalysis {
        project_key: payload.project.key,
        server_url: payload.server_url,
        task_id: payload.task_id,
        analysed_at: payload.analysed_at,
        revision: payload.revision,
        version,
        gate_name,
        status,
        conditions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of SonarQube's documentation (Administration › Webhooks › Payload).
    const PAYLOAD: &str = r#"{
      "analysedAt": "2016-11-18T10:46:28+0100",
      "project": { "key": "pets", "name": "Pets", "url": "https://mycompany.com/sonarqube/dashboard?id=pets" },
      "properties": { "sonar.analysis.version": "1.0.0" },
      "qualityGate": {
        "conditions": [
          { "errorThreshold": "1", "metric": "new_security_rating", "onLeakPeriod": true, "operator": "GREATER_THAN", "status": "OK", "value": "1" },
          { "errorThreshold": "80", "metric": "new_coverage", "onLeakPeriod": true, "operator": "LESS_THAN", "status": "ERROR", "value": "72.5" }
        ],
        "name": "SonarQube way",
        "status": "ERROR"
      },
      "revision": "c739069ec7105e01303e8b3065a81141aad9f129",
      "serverUrl": "https://mycompany.com/sonarqube",
      "status": "SUCCESS",
      "taskId": "AVh21JS2JepAEhwQ-b3u"
    }"#;

    #[test]
    fn the_documented_payload_reads_with_its_gate_and_version() {
        let analysis = read_sonar_webhook(PAYLOAD.as_bytes()).expect("the documented payload");
        assert_eq!(analysis.project_key, "pets");
        assert_eq!(analysis.version.as_deref(), Some("1.0.0"));
        assert_eq!(analysis.status, QualityGateStatus::Error);
        assert_eq!(analysis.conditions[1].metric, "new_coverage");
        assert_eq!(analysis.task_id.as_deref(), Some("AVh21JS2JepAEhwQ-b3u"));
    }

    #[test]
    fn a_payload_that_is_not_sonarqubes_names_the_json_path() {
        let err = read_sonar_webhook(br#"{"project": {"name": "x"}}"#).unwrap_err();
        assert!(err.to_string().contains("project"), "{err}");
        let err = read_sonar_webhook(b"not json").unwrap_err();
        assert!(matches!(err, SonarError::NotSonar { .. }), "{err}");
        let odd = PAYLOAD.replace("\"status\": \"ERROR\"", "\"status\": \"MAYBE\"");
        assert!(matches!(
            read_sonar_webhook(odd.as_bytes()),
            Err(SonarError::UnknownStatus(_))
        ));
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(
            read_sonar_webhook(deep.as_bytes()).is_err(),
            "serde_json's depth limit holds"
        );
    }

    #[test]
    fn broken_encodings_deep_nesting_huge_lines_and_many_conditions_stay_within_bounds() {
        // A broken UTF-8 sequence in a string: refused, naming the JSON path and the position.
        let marked = PAYLOAD.replacen("SonarQube way", "Sonar\u{1}Qube way", 1);
        let broken: Vec<u8> = marked
            .bytes()
            .map(|b| if b == 1 { 0xff } else { b })
            .collect();
        match read_sonar_webhook(&broken) {
            Err(SonarError::NotSonar { path, reason }) => {
                assert_eq!(path, "qualityGate.name");
                assert!(reason.contains("line 10"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // Deep nesting inside a property Slipway does not read: refused, never overflowed.
        let nested = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let deep = PAYLOAD.replacen("\"1.0.0\"", &nested, 1);
        let err = read_sonar_webhook(deep.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
        // One huge line (the API's body limit bounds it before this reader): read as it is.
        let long = "c".repeat(1_500_000);
        let huge = PAYLOAD.replace('\n', " ").replacen(
            "c739069ec7105e01303e8b3065a81141aad9f129",
            &long,
            1,
        );
        let analysis = read_sonar_webhook(huge.as_bytes()).expect("a long revision reads");
        assert_eq!(analysis.revision.map(|r| r.len()), Some(long.len()));
        // Fifty thousand conditions: read in one pass, in order.
        let many: Vec<String> = (0..50_000)
            .map(|i| format!("{{\"metric\": \"m{i}\", \"status\": \"OK\"}}"))
            .collect();
        let start = PAYLOAD.find("\"conditions\"").expect("conditions");
        let end = PAYLOAD[start..].find(']').expect("their end") + start + 1;
        let bomb = format!(
            "{}\"conditions\": [{}]{}",
            &PAYLOAD[..start],
            many.join(","),
            &PAYLOAD[end..]
        );
        let analysis = read_sonar_webhook(bomb.as_bytes()).expect("many conditions");
        assert_eq!(analysis.conditions.len(), 50_000);
        assert_eq!(analysis.conditions[49_999].metric, "m49999");
    }
}
