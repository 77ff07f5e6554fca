//! The multipart calls of the S3 client: start an upload, send or copy its parts, complete or
//! abort it. Blocking, like the rest of the client.

use super::{BodyCheck, Call, PayloadCheck, S3Client, S3Error};

/// A part of a multipart upload: its number (from 1), its bytes and their CRC-32, counted by the
/// caller as it filled the part (so that no second pass reads every byte again).
pub(crate) struct Part<'a> {
    pub number: u32,
    pub bytes: &'a [u8],
    pub crc32: u32,
}

impl S3Client {
    pub(crate) fn create_multipart(&self, key: &str) -> Result<String, S3Error> {
        let action = format!("starting a multipart upload to {key}");
        let response = self.send(Call {
            method: "POST",
            key: Some(key),
            query: &[("uploads", "")],
            signed_headers: &[],
            unsigned_headers: &[],
            body: &[],
            check: PayloadCheck::SignedSha256,
            action: &action,
        })?;
        let answer = self.xml(&action, response)?;
        self.required(&action, &answer, "UploadId")
    }

    /// Send `part`, its bytes checked by the service as `check` says.
    pub(crate) fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part: Part<'_>,
        check: BodyCheck,
    ) -> Result<String, S3Error> {
        let payload = match check {
            BodyCheck::SignedSha256 => PayloadCheck::SignedSha256,
            BodyCheck::Crc32 => PayloadCheck::Crc32(part.crc32),
        };
        self.send_part(key, upload_id, part.number, part.bytes, payload)
    }

    /// Send `body` as part 1 of `upload_id` claiming the CRC-32 of `claimed`: what a part
    /// damaged on its way looks like to the service ([`super::upload::part_check`] asks whether
    /// it notices).
    pub(crate) fn upload_part_claiming(
        &self,
        key: &str,
        upload_id: &str,
        body: &[u8],
        claimed: &[u8],
    ) -> Result<String, S3Error> {
        let check = PayloadCheck::Crc32(crc32fast::hash(claimed));
        self.send_part(key, upload_id, 1, body, check)
    }

    fn send_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        body: &[u8],
        check: PayloadCheck,
    ) -> Result<String, S3Error> {
        let action = format!("part {number} of the upload to {key}");
        let number_text = number.to_string();
        let response = self.send(Call {
            method: "PUT",
            key: Some(key),
            query: &[("partNumber", &number_text), ("uploadId", upload_id)],
            signed_headers: &[],
            unsigned_headers: &[],
            body,
            check,
            action: &action,
        })?;
        response
            .header("ETag")
            .map(str::to_string)
            .ok_or_else(|| self.bad_answer(&action, "no ETag"))
    }

    pub(crate) fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<(), S3Error> {
        let action = format!("completing the upload to {key}");
        let mut body = String::from("<CompleteMultipartUpload>");
        for (number, etag) in parts {
            body.push_str(&format!(
                "<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>",
                quick_xml::escape::escape(etag.as_str())
            ));
        }
        body.push_str("</CompleteMultipartUpload>");
        let response = self.send(Call {
            method: "POST",
            key: Some(key),
            query: &[("uploadId", upload_id)],
            signed_headers: &[],
            unsigned_headers: &[("Content-Type", "application/xml")],
            body: body.as_bytes(),
            check: PayloadCheck::SignedSha256,
            action: &action,
        })?;
        self.xml(&action, response).map(drop)
    }

    pub(crate) fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), S3Error> {
        match self.send(Call {
            method: "DELETE",
            key: Some(key),
            query: &[("uploadId", upload_id)],
            signed_headers: &[],
            unsigned_headers: &[],
            body: &[],
            check: PayloadCheck::SignedSha256,
            action: &format!("aborting the upload to {key}"),
        }) {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Copy bytes `first..=last` of `from` as part `number` of the multipart upload `upload_id`
    /// to `to`, on the service's side; the part's ETag.
    pub(crate) fn upload_part_copy(
        &self,
        to: &str,
        upload_id: &str,
        number: u32,
        from: &str,
        (first, last): (u64, u64),
    ) -> Result<String, S3Error> {
        let action = format!("copying bytes {first}-{last} of {from} as part {number} of {to}");
        let (source, range) = (self.copy_source(from), format!("bytes={first}-{last}"));
        let number_text = number.to_string();
        let response = self.send(Call {
            method: "PUT",
            key: Some(to),
            query: &[("partNumber", &number_text), ("uploadId", upload_id)],
            signed_headers: &[
                ("x-amz-copy-source", &source),
                ("x-amz-copy-source-range", &range),
            ],
            unsigned_headers: &[],
            body: &[],
            check: PayloadCheck::SignedSha256,
            action: &action,
        })?;
        let answer = self.xml(&action, response)?;
        self.required(&action, &answer, "ETag")
    }
}
