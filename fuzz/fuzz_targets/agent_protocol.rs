//! JSON bodies between server and agents: the server decodes what agents send, agents decode what
//! the server answers. Decoding never panics, and what decodes encodes again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use slipway_protocol::{
    AgentStart, AgentStarted, Assignment, EnrollRequest, EnrollResponse, Heartbeat,
    HeartbeatResponse, LeaseRequest, LeaseResponse, LogAck, LogBatch, TaskResult,
};

fn round_trip<T: DeserializeOwned + Serialize>(data: &[u8]) {
    if let Ok(message) = serde_json::from_slice::<T>(data) {
        let text = serde_json::to_vec(&message).expect("a decoded message encodes");
        serde_json::from_slice::<T>(&text).expect("an encoded message decodes");
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<EnrollRequest>(data);
    round_trip::<EnrollResponse>(data);
    round_trip::<Heartbeat>(data);
    round_trip::<HeartbeatResponse>(data);
    round_trip::<LeaseResponse>(data);
    round_trip::<Assignment>(data);
    round_trip::<LogBatch>(data);
    round_trip::<LogAck>(data);
    round_trip::<TaskResult>(data);
    round_trip::<AgentStart>(data);
    round_trip::<AgentStarted>(data);
    round_trip::<LeaseRequest>(data);
});
