// tests/unit/proxy/metrics/labels_test.cpp — closed label sets and histogram bucket placement.
#include <doctest.h>

#include <cstdint>
#include <string>

#include "proxy/metrics/histogram_buckets.h"
#include "proxy/metrics/labels.h"

namespace edged::metrics {
namespace {

TEST_SUITE("metrics/labels") {
  TEST_CASE("methodFromName maps the seven named methods exactly and everything else to Other") {
    CHECK(methodFromName("GET") == Method::Get);
    CHECK(methodFromName("HEAD") == Method::Head);
    CHECK(methodFromName("POST") == Method::Post);
    CHECK(methodFromName("PUT") == Method::Put);
    CHECK(methodFromName("DELETE") == Method::Delete);
    CHECK(methodFromName("PATCH") == Method::Patch);
    CHECK(methodFromName("OPTIONS") == Method::Options);
    CHECK(methodFromName("get") == Method::Other);  // methods are case-sensitive
    CHECK(methodFromName("other") == Method::Other);
    CHECK(methodFromName("PROPFIND") == Method::Other);
    CHECK(methodFromName("") == Method::Other);
    CHECK(methodLabel(Method::Delete) == "DELETE");
    CHECK(methodLabel(Method::Other) == "other");
  }

  TEST_CASE("code classes: 1xx..5xx, out-of-range statuses count as 5xx") {
    CHECK(codeClassLabel(codeClassIndex(100)) == "1xx");
    CHECK(codeClassLabel(codeClassIndex(101)) == "1xx");
    CHECK(codeClassLabel(codeClassIndex(200)) == "2xx");
    CHECK(codeClassLabel(codeClassIndex(304)) == "3xx");
    CHECK(codeClassLabel(codeClassIndex(499)) == "4xx");
    CHECK(codeClassLabel(codeClassIndex(599)) == "5xx");
    CHECK(codeClassLabel(codeClassIndex(0)) == "5xx");
    CHECK(codeClassLabel(codeClassIndex(99)) == "5xx");
    CHECK(codeClassLabel(codeClassIndex(600)) == "5xx");
    CHECK(codeClassLabel(codeClassIndex(-1)) == "5xx");
  }

  TEST_CASE("failure reasons and algorithms spell their label values") {
    CHECK(failureReasonLabel(FailureReason::ConnectFailed) == "connect_failed");
    CHECK(failureReasonLabel(FailureReason::ConnectTimeout) == "connect_timeout");
    CHECK(failureReasonLabel(FailureReason::SendTimeout) == "send_timeout");
    CHECK(failureReasonLabel(FailureReason::ReadTimeout) == "read_timeout");
    CHECK(failureReasonLabel(FailureReason::UpstreamClosed) == "upstream_closed");
    CHECK(failureReasonLabel(FailureReason::BadResponse) == "bad_response");
    CHECK(algorithmLabel(Algorithm::Gzip) == "gzip");
    CHECK(algorithmLabel(Algorithm::Brotli) == "br");
    CHECK(algorithmLabel(Algorithm::Zstd) == "zstd");
  }
}

TEST_SUITE("metrics/histogram_buckets") {
  TEST_CASE("bounds are inclusive (le) and 30 s is the last finite bucket") {
    CHECK(kBucketCount == 15);
    CHECK(bucketIndex(0) == 0);
    CHECK(bucketIndex(1'000'000) == 0);      // exactly 1 ms: le="0.001"
    CHECK(bucketIndex(1'000'001) == 1);
    CHECK(bucketIndex(2'500'000) == 1);
    CHECK(bucketIndex(7'000'000) == 3);      // 7 ms: le="0.01"
    CHECK(bucketIndex(1'000'000'000) == 9);  // 1 s
    CHECK(kBucketLabels[9] == "1");
    CHECK(bucketIndex(30'000'000'000) == 13);
    CHECK(bucketIndex(30'000'000'001) == 14);
    CHECK(kBucketLabels[14] == "+Inf");
    CHECK(bucketIndex(UINT64_MAX) == 14);
  }

  TEST_CASE("bucket labels spell the bounds") {
    for (size_t i = 0; i < kBucketBoundsNs.size(); ++i) {
      const double seconds = std::stod(std::string(kBucketLabels[i]));
      CHECK(static_cast<uint64_t>(seconds * 1e9 + 0.5) == kBucketBoundsNs[i]);
      if (i > 0) CHECK(kBucketBoundsNs[i - 1] < kBucketBoundsNs[i]);
    }
  }
}

}  // namespace
}  // namespace edged::metrics
