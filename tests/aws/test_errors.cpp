// Error bodies of each protocol, as AWS sends them, and the retry classification.
#include <gtest/gtest.h>

#include "aws/errors.hpp"

namespace {

core::http::Response response(long status, std::string body, core::http::Headers headers = {}) {
    core::http::Response r;
    r.status = status;
    r.body = std::move(body);
    r.headers = std::move(headers);
    return r;
}

}  // namespace

TEST(AwsErrors, QueryErrorResponse) {
    const auto e = aws::parse_error(aws::Protocol::query,
                                    response(400, R"(<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>
  <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>)"),
                                    "sts", "GetCallerIdentity");
    EXPECT_EQ(e.code, "Throttling");
    EXPECT_EQ(e.http_status, 400);
    EXPECT_TRUE(e.retryable);
    EXPECT_EQ(e.message,
              "sts GetCallerIdentity: Throttling: Rate exceeded (request id c6104cbe-af31-11e0-8154-cbc7ccf896c7)");
}

TEST(AwsErrors, Ec2ErrorResponse) {
    const auto e = aws::parse_error(aws::Protocol::query, response(400, R"(<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID 'i-1' does not exist</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>)"),
                                    "ec2", "TerminateInstances");
    EXPECT_EQ(e.code, "InvalidInstanceID.NotFound");
    EXPECT_EQ(e.kind, core::ErrorKind::not_found);
    EXPECT_FALSE(e.retryable);
    EXPECT_NE(e.message.find("ea966190"), std::string::npos);

    const auto u = aws::parse_error(
        aws::Protocol::query,
        response(
            403,
            R"(<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>x</RequestID></Response>)"),
        "ec2", "DescribeInstances");
    EXPECT_EQ(u.kind, core::ErrorKind::auth);
    EXPECT_FALSE(u.retryable);
}

TEST(AwsErrors, Route53Errors) {
    const auto denied = aws::parse_error(aws::Protocol::rest_xml, response(403, R"(<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/x is not authorized to perform: route53:ChangeResourceRecordSets</Message></Error><RequestId>r1</RequestId></ErrorResponse>)"),
                                         "route53", "ChangeResourceRecordSets");
    EXPECT_EQ(denied.code, "AccessDenied");
    EXPECT_EQ(denied.kind, core::ErrorKind::auth);
    EXPECT_FALSE(denied.retryable);
    EXPECT_EQ(denied.message.rfind("route53 ChangeResourceRecordSets: AccessDenied: User: ", 0), 0u);

    // InvalidChangeBatch has its own root element and a list of messages.
    const auto batch = aws::parse_error(aws::Protocol::rest_xml, response(400, R"(<?xml version="1.0"?>
<InvalidChangeBatch xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Messages><Message>Tried to delete resource record set [name='_acme-challenge.example.com.', type='TXT'] but it was not found</Message><Message>second</Message></Messages><RequestId>r2</RequestId></InvalidChangeBatch>)"),
                                        "route53", "ChangeResourceRecordSets");
    EXPECT_EQ(batch.code, "InvalidChangeBatch");
    EXPECT_EQ(batch.kind, core::ErrorKind::invalid_input);
    EXPECT_NE(batch.message.find("but it was not found; second"), std::string::npos) << batch.message;

    const auto prior = aws::parse_error(
        aws::Protocol::rest_xml,
        response(
            400,
            R"(<ErrorResponse><Error><Type>Sender</Type><Code>PriorRequestNotComplete</Code><Message>The request was rejected because Route 53 was still processing a prior request.</Message></Error></ErrorResponse>)"),
        "route53", "ChangeResourceRecordSets");
    EXPECT_TRUE(prior.retryable);

    const auto zone = aws::parse_error(
        aws::Protocol::rest_xml,
        response(
            404,
            R"(<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchHostedZone</Code><Message>No hosted zone found with ID: Z1</Message></Error></ErrorResponse>)"),
        "route53", "GetHostedZone");
    EXPECT_EQ(zone.kind, core::ErrorKind::not_found);
}

TEST(AwsErrors, JsonErrors) {
    const auto not_found = aws::parse_error(
        aws::Protocol::json,
        response(
            400,
            R"({"__type":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."})"),
        "secretsmanager", "GetSecretValue");
    EXPECT_EQ(not_found.code, "ResourceNotFoundException");
    EXPECT_EQ(not_found.kind, core::ErrorKind::not_found);
    EXPECT_EQ(not_found.message,
              "secretsmanager GetSecretValue: ResourceNotFoundException: Secrets Manager can't find the specified "
              "secret.");

    const auto namespaced = aws::parse_error(
        aws::Protocol::json,
        response(400, R"({"__type":"com.amazonaws.secretsmanager#ResourceExistsException","message":"exists"})"),
        "secretsmanager", "CreateSecret");
    EXPECT_EQ(namespaced.code, "ResourceExistsException");
    EXPECT_EQ(namespaced.kind, core::ErrorKind::conflict);

    // The X-Amzn-ErrorType header wins (restJson / newer services).
    const auto header = aws::parse_error(
        aws::Protocol::json,
        response(400, R"({"message":"Rate exceeded"})",
                 {{"x-amzn-errortype",
                   "ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/"}}),
        "ecs", "UpdateService");
    EXPECT_EQ(header.code, "ThrottlingException");
    EXPECT_TRUE(header.retryable);

    const auto expired = aws::parse_error(
        aws::Protocol::json,
        response(
            400,
            R"({"__type":"ExpiredTokenException","message":"The security token included in the request is expired"})"),
        "secretsmanager", "GetSecretValue");
    EXPECT_TRUE(aws::is_expired_credentials_code(expired.code));
    EXPECT_EQ(expired.kind, core::ErrorKind::auth);
    EXPECT_FALSE(expired.retryable);
}

TEST(AwsErrors, UnparsableBodiesFallBackToStatus) {
    const auto e = aws::parse_error(aws::Protocol::json, response(503, "<html>Service Unavailable</html>"), "ecs",
                                    "UpdateService");
    EXPECT_EQ(e.code, "ServiceUnavailable");
    EXPECT_TRUE(e.retryable);
    EXPECT_EQ(e.message, "ecs UpdateService: ServiceUnavailable: HTTP 503");

    const auto x = aws::parse_error(aws::Protocol::rest_xml, response(500, ""), "route53", "GetChange");
    EXPECT_EQ(x.code, "InternalError");
    EXPECT_TRUE(x.retryable);

    const auto teapot = aws::parse_error(aws::Protocol::query, response(418, "nope"), "sts", "GetCallerIdentity");
    EXPECT_FALSE(teapot.retryable);
    EXPECT_EQ(teapot.kind, core::ErrorKind::invalid_input);
}

TEST(AwsErrors, RetryAfterHeaderIsKept) {
    const auto e = aws::parse_error(aws::Protocol::json,
                                    response(429, R"({"__type":"TooManyRequestsException"})", {{"retry-after", "3"}}),
                                    "secretsmanager", "PutSecretValue");
    EXPECT_TRUE(e.retryable);
    EXPECT_EQ(e.retry_after, std::chrono::milliseconds(3000));
}

TEST(AwsErrors, ClassificationTables) {
    for (const char* code : {"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
                             "TooManyRequestsException", "ProvisionedThroughputExceededException",
                             "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
                             "RequestThrottled", "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException"}) {
        EXPECT_TRUE(aws::is_throttling_code(code)) << code;
        EXPECT_TRUE(aws::is_retryable(code, 400)) << code;
    }
    for (const char* code :
         {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "SignatureDoesNotMatch",
          "InvalidClientTokenId", "UnrecognizedClientException", "InvalidSignatureException", "AuthFailure"}) {
        EXPECT_TRUE(aws::is_auth_code(code)) << code;
        EXPECT_FALSE(aws::is_retryable(code, 403)) << code;
        EXPECT_EQ(aws::classify(code, 403), core::ErrorKind::auth) << code;
    }
    for (const char* code : {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}) {
        EXPECT_TRUE(aws::is_expired_credentials_code(code)) << code;
    }
    EXPECT_TRUE(aws::is_retryable("InternalError", 500));
    EXPECT_TRUE(aws::is_retryable("Whatever", 502));
    EXPECT_TRUE(aws::is_retryable("RequestTimeout", 400));
    EXPECT_FALSE(aws::is_retryable("ValidationError", 400));
    EXPECT_EQ(aws::classify("ValidationError", 400), core::ErrorKind::invalid_input);
    EXPECT_EQ(aws::classify("HostedZoneAlreadyExists", 409), core::ErrorKind::conflict);
}

// Secrets Manager's LimitExceededException is a quota (the botocore model:
// "would exceed one of the Secrets Manager quotas"), not throttling: retrying
// only delays the error.
TEST(AwsErrors, SecretsManagerQuotaIsNotRetried) {
    const auto e = aws::parse_error(
        aws::Protocol::json,
        response(400, R"({"__type":"LimitExceededException","message":"You have exceeded the quota of secrets"})"),
        "secretsmanager", "CreateSecret");
    EXPECT_FALSE(e.retryable);
    EXPECT_FALSE(aws::is_throttling_code("LimitExceededException"));
    EXPECT_EQ(e.kind, core::ErrorKind::invalid_input);
    EXPECT_NE(e.message.find("LimitExceededException"), std::string::npos) << e.message;
}

TEST(AwsErrors, TransportErrorsKeepTheHttpVerdict) {
    core::Error reset = core::make_error(core::ErrorKind::network, "connection reset");
    reset.retryable = true;
    const auto wrapped = aws::transport_error(reset, "route53", "GetChange");
    EXPECT_TRUE(wrapped.retryable);
    EXPECT_EQ(wrapped.message, "route53 GetChange: connection reset");
    const core::Error tls = core::make_error(core::ErrorKind::network, "TLS failure");
    EXPECT_FALSE(aws::transport_error(tls, "route53", "GetChange").retryable);
}
