// Published test vectors, verified through the public JOSE API: RFC 7515 appendix A (HS256,
// RS256, ES256, ES512), RFC 7520 section 4 (RS256, PS384, ES512, HS256), RFC 8037 appendix A
// (Ed25519) and RFC 7638 section 3.1 (JWK thumbprint). Deterministic signatures (HMAC, RSA PKCS #1
// v1.5, Ed25519) are also re-created and compared byte for byte; ECDSA and RSA-PSS are randomized,
// so those are signed and then verified instead.
//
// The values are copied from the RFCs (by way of jwcrypto's test suite, which transcribes them,
// and checked against the copies of RFC 7520's keys and tokens in Wycheproof's
// json_web_signature_test.json, tcIds 345 to 348).
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "tessera/jose/base64url.h"
#include "tessera/jose/jwk.h"
#include "tessera/jose/jwks.h"
#include "tessera/jose/jws.h"
#include "tessera/jose/jwt.h"

namespace tessera::jose {
namespace {

using nlohmann::json;

// RFC 7515 appendix A.1.1: the HMAC key.
json Rfc7515A1Key() {
  return {{"kty", "oct"},
          {"k",
           "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0i"
           "PS4hcgUuTwjAzZr1Z9CAow"}};
}

// RFC 7515 appendix A.2.1: the RSA key.
json Rfc7515A2Key() {
  return {{"kty", "RSA"},
          {"n",
           "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp"
           "-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOW"
           "vG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUs"
           "LA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9k"
           "G4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2"
           "PAcDTW9gb54h4FRWyuXpoQ"},
          {"e", "AQAB"},
          {"d",
           "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_G"
           "Q5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKV"
           "RUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9J"
           "YanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoF"
           "aFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjn"
           "czT0QU91p1DhOVRuOopznQ"},
          {"p",
           "4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBds"
           "s1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ"
           "5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc"},
          {"q",
           "uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHA"
           "jLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA-njbglfIsRLt"
           "XlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc"},
          {"dp",
           "BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE"
           "2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6HsJeDCjn12Sk3vmAktV2zb34MCdy7cpdTh_"
           "YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0"},
          {"dq",
           "h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDo"
           "RwbKgB719rrmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-kyNlxAr2v4IKhGN"
           "pmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU"},
          {"qi",
           "IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0Em"
           "pScGLq2MowX7fhd_QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW0ITrJReOgo1c"
           "q9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U"}};
}

// RFC 7515 appendix A.3.1: the P-256 key.
json Rfc7515A3Key() {
  return {{"kty", "EC"},
          {"crv", "P-256"},
          {"x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"},
          {"y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
          {"d", "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}};
}

// RFC 7515 appendix A.4.1: the P-521 key.
json Rfc7515A4Key() {
  return {{"kty", "EC"},
          {"crv", "P-521"},
          {"x",
           "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvL"
           "FV1jSfS9tsz4qUxcWceqwQGk"},
          {"y",
           "ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4K"
           "kd0AZMaZmh9ubmf63e3kyMj2"},
          {"d",
           "AY5pb7A0UFiB3RELSD64fTLOSV_jazdF7fLYyuTw8lOfRhWg6Y6rUrPAxerEzgdR"
           "hajnu0ferB0d53vM9mE15j2C"}};
}

// RFC 7520 section 3.4: the RSA private key (section 3.3 is its public part).
json Rfc7520RsaKey() {
  return {{"kty", "RSA"},
          {"kid", "bilbo.baggins@hobbiton.example"},
          {"use", "sig"},
          {"n",
           "n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT-O-XV2jRoj"
           "dNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqVwGU_NsYOYL-QtiWN2l"
           "bzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-oBHqFEHYpPe7Tpe-OfVfHd1E6c"
           "S6M1FZcD1NNLYD5lFHpPI9bTwJlsde3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3"
           "-tVTU4fg_3L_vniUFAKwuCLqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwU"
           "kRz5iaiQkqgc5gHdrNP5zw"},
          {"e", "AQAB"},
          {"d",
           "bWUC9B-EFRIo8kpGfh0ZuyGPvMNKvYWNtB_ikiH9k20eT-O1q_I78eiZkpXxXQ0U"
           "TEs2LsNRS-8uJbvQ-A1irkwMSMkK1J3XTGgdrhCku9gRldY7sNA_AKZGh-Q661_4"
           "2rINLRCe8W-nZ34ui_qOfkLnK9QWDDqpaIsA-bMwWWSDFu2MUBYwkHTMEzLYGqOe"
           "04noqeq1hExBTHBOBdkMXiuFhUq1BU6l-DqEiWxqg82sXt2h-LMnT3046AOYJoRi"
           "oz75tSUQfGCshWTBnP5uDjd18kKhyv07lhfSJdrPdM5Plyl21hsFf4L_mHCuoFau"
           "7gdsPfHPxxjVOcOpBrQzwQ"},
          {"p",
           "3Slxg_DwTXJcb6095RoXygQCAZ5RnAvZlno1yhHtnUex_fp7AZ_9nRaO7HX_-SFf"
           "GQeutao2TDjDAWU4Vupk8rw9JR0AzZ0N2fvuIAmr_WCsmGpeNqQnev1T7IyEsnh8"
           "UMt-n5CafhkikzhEsrmndH6LxOrvRJlsPp6Zv8bUq0k"},
          {"q",
           "uKE2dh-cTf6ERF4k4e_jy78GfPYUIaUyoSSJuBzp3Cubk3OCqs6grT8bR_cu0Dm1"
           "MZwWmtdqDyI95HrUeq3MP15vMMON8lHTeZu2lmKvwqW7anV5UzhM1iZ7z4yMkuUw"
           "FWoBvyY898EXvRD-hdqRxHlSqAZ192zB3pVFJ0s7pFc"},
          {"dp",
           "B8PVvXkvJrj2L-GYQ7v3y9r6Kw5g9SahXBwsWUzp19TVlgI-YV85q1NIb1rxQtD-"
           "IsXXR3-TanevuRPRt5OBOdiMGQp8pbt26gljYfKU_E9xn-RULHz0-ed9E9gXLKD4"
           "VGngpz-PfQ_q29pk5xWHoJp009Qf1HvChixRX59ehik"},
          {"dq",
           "CLDmDGduhylc9o7r84rEUVn7pzQ6PF83Y-iBZx5NT-TpnOZKF1pErAMVeKzFEl41"
           "DlHHqqBLSM0W1sOFbwTxYWZDm6sI6og5iTbwQGIC3gnJKbi_7k_vJgGHwHxgPaX2"
           "PnvP-zyEkDERuf-ry4c_Z11Cq9AqC2yeL6kdKT1cYF8"},
          {"qi",
           "3PiqvXQN0zwMeE-sBvZgi289XP9XCQF3VWqPzMKnIgQp7_Tugo6-NZBKCQsMf3Ha"
           "EGBjTVJs_jcK8-TRXvaKe-7ZMaQj8VfBdYkssbu0NKDDhjJ-GtiseaDVWt7dcH0c"
           "fwxgFUHpQh7FoCrjFJ6h6ZEpMF6xmujs4qMpPz8aaI4"}};
}

// RFC 7520 section 3.2: the P-521 private key (section 3.1 is its public part).
json Rfc7520EcKey() {
  return {{"kty", "EC"},
          {"kid", "bilbo.baggins@hobbiton.example"},
          {"use", "sig"},
          {"crv", "P-521"},
          {"x",
           "AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqv"
           "jyekWF-7ytDyRXYgCF5cj0Kt"},
          {"y",
           "AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgD"
           "PrwQrJmbnX9cwlGfP-HqHZR1"},
          {"d",
           "AAhRON2r9cqXX1hg-RoI6R1tX5p2rUAYdmpHZoC1XNM56KtscrX6zbKipQrCW9CG"
           "ZH3T4ubpnoTKLDYJ_fF3_rJt"}};
}

// RFC 7520 section 3.5: the HMAC key.
json Rfc7520HmacKey() {
  return {{"kty", "oct"},
          {"kid", "018c0ae5-4d9b-471b-bfd6-eef314bc7037"},
          {"use", "sig"},
          {"alg", "HS256"},
          {"k", "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg"}};
}

// RFC 7515 appendix A.1.1: HS256.
constexpr char kRfc7515A1Token[] =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTk"
    "zODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbU"
    "JU1p1r_wW1gFWFOEjXk";

// RFC 7515 appendix A.2.1: RS256.
constexpr char kRfc7515A2Token[] =
    "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9"
    "leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2Vt"
    "Qgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKB"
    "YNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN"
    "9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI"
    "8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

// RFC 7515 appendix A.3.1: ES256.
constexpr char kRfc7515A3Token[] =
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9"
    "leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXF"
    "CgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

// RFC 7515 appendix A.4.1: ES512 over the payload "Payload".
constexpr char kRfc7515A4Token[] =
    "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA.AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOY"
    "aRI1bKPWROc-mZZqwqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8Kp"
    "EHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn";

// RFC 7520 section 4: the base64url payload all signature examples sign (figure 8).
constexpr char kRfc7520Payload[] =
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91"
    "IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXi"
    "gJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4";

// RFC 7520 section 4.1.3, figure 13: RS256.
constexpr char kRfc7520Rs256[] =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9.SXTigJl"
    "zIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXA"
    "gb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5"
    "vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.MRjdkly7_-oTPTS3AXP41iQ"
    "IGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmKZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wn"
    "B-BDkoBwA78185hX-Es4JIwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6"
    "x8wW1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluPxUAhb6L2aXic1U1"
    "2podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_fcIe8u9ipH84ogoree7vjbU5y18kDquDg";

// RFC 7520 section 4.2.3, figure 20: PS384.
constexpr char kRfc7520Ps384[] =
    "eyJhbGciOiJQUzM4NCIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9.SXTigJl"
    "zIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXA"
    "gb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5"
    "vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.cu22eBqkYDKgIlTpzDXGvaF"
    "fz6WGoz7fUDcfT0kkOy42miAh2qyBzk1xEsnk2IpN6-tPid6VrklHkqsGqDqHCdP6O8TTB5dDDItllVo"
    "6_1OLPpcbUrhiUSMxbbXUvdvWXzg-UD8biiReQFlfz28zGWVsdiNAUf8ZnyPEgVFn442ZdNqiVJRmBqr"
    "YRXe8P_ijQ7p8Vdz0TTrxUeT3lm8d9shnr2lfJT8ImUjvAA2Xez2Mlp8cBE5awDzT0qI0n6uiP1aCN_2"
    "_jLAeQTlqRHtfa64QQSUmFAAjVKPbByi7xho0uTOcbH510a6GYmJUAfmWjwZ6oD4ifKo8DYM-X72Eaw";

// RFC 7520 section 4.3.3, figure 27: ES512.
constexpr char kRfc7520Es512[] =
    "eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9.SXTigJl"
    "zIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXA"
    "gb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5"
    "vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.AE_R_YZCChjn4791jSQCrdP"
    "ZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvbu9Plon7KRTzoNEuT4Va2cmL1eJAQy3mtPBu_u_sDD"
    "yYjnAMDxXPn7XrT0lw-kvAD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2";

// RFC 7520 section 4.4.3, figure 35: HS256.
constexpr char kRfc7520Hs256[] =
    "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9"
    ".SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW9"
    "1IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmX"
    "igJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.s0h6KThzkfBBBkL"
    "spW1h84VsJZFTsPPqMDA7g1Md7p0";

// RFC 7638 section 3.1: the example RSA key (RFC 7517 appendix A.1).
json Rfc7638Key() {
  return {{"kty", "RSA"},
          {"n",
           "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86z"
           "wu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5Js"
           "GY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMic"
           "AtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
           "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
           "Cur-kEgU8awapJzKnqDKgw"},
          {"e", "AQAB"},
          {"alg", "RS256"},
          {"kid", "2011-04-29"}};
}

// RFC 7515 appendix A.1 to A.3: the payload (with its CR LF line breaks) all three sign.
constexpr char kRfc7515Payload[] =
    "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";

// RFC 8037 appendix A.1: the Ed25519 key.
json Rfc8037Key() {
  return {{"kty", "OKP"},
          {"crv", "Ed25519"},
          {"d", "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"},
          {"x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}};
}
// RFC 8037 appendix A.3: the thumbprint of that key.
constexpr char kRfc8037Thumbprint[] = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
// RFC 8037 appendix A.4: the payload and the JWS.
constexpr char kRfc8037Payload[] = "Example of Ed25519 signing";
constexpr char kRfc8037Jws[] =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

// RFC 7638 section 3.1: the thumbprint of Rfc7638Key().
constexpr char kRfc7638Thumbprint[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

// The key without its private members.
json PublicPart(json key) {
  for (const char* m : {"d", "p", "q", "dp", "dq", "qi"}) key.erase(m);
  return key;
}

// "OK" or the status as text, so that a failure says why.
std::string Describe(const Status& s) { return s.ok() ? "OK" : s.ToString(); }

Result<Jwk> ParseKey(const json& key) { return Jwk::Parse(key.dump()); }

// Verifies `token` with a set holding only `key`; fills `header` and `payload`.
Status VerifyWith(std::string_view token, const json& key, JwsHeader* header = nullptr,
                  std::string* payload = nullptr) {
  auto set = Jwks::Parse(key.dump());
  if (!set) return set.error();
  if (set->keys().size() != 1) return InternalError(Reason::kKeyInvalid, "key was skipped");
  JwsHeader h;
  std::string p;
  return VerifyJws(token, *set, AlgSet{}, JwsLimits{}, header ? header : &h,
                   payload ? payload : &p);
}

std::string Rfc7520PayloadText() { return *Base64UrlDecode(kRfc7520Payload); }

// ---- RFC 7515 appendix A -----------------------------------------------------------------------

TEST(Rfc7515, A1Hs256TokenVerifies) {
  JwsHeader header;
  std::string payload;
  ASSERT_EQ(Describe(VerifyWith(kRfc7515A1Token, Rfc7515A1Key(), &header, &payload)), "OK");
  EXPECT_EQ(header.alg, Alg::kHS256);
  EXPECT_EQ(header.typ, "JWT");
  EXPECT_EQ(header.kid, "");
  EXPECT_EQ(payload, kRfc7515Payload);
}

TEST(Rfc7515, A1Hs256TokenPassesJwtVerifierBeforeExp) {
  auto set = Jwks::Parse(Rfc7515A1Key().dump());
  ASSERT_TRUE(set);
  JwtVerifier verifier(std::make_shared<const Jwks>(*std::move(set)), JwtVerifyOptions{});
  auto claims = verifier.Verify(kRfc7515A1Token, /*now=*/1300819379);
  ASSERT_TRUE(claims) << claims.status().ToString();
  EXPECT_EQ(claims->iss, "joe");
  EXPECT_EQ(claims->exp, 1300819380);
  EXPECT_EQ(claims->payload, kRfc7515Payload);
}

TEST(Rfc7515, A2Rs256TokenVerifiesWithPublicKey) {
  JwsHeader header;
  std::string payload;
  ASSERT_EQ(Describe(VerifyWith(kRfc7515A2Token, PublicPart(Rfc7515A2Key()), &header, &payload)),
            "OK");
  EXPECT_EQ(header.alg, Alg::kRS256);
  EXPECT_EQ(payload, kRfc7515Payload);
}

TEST(Rfc7515, A2Rs256SigningReproducesToken) {
  // The A.2 header is exactly {"alg":"RS256"}, which SignJws writes for a key without a kid.
  auto key = ParseKey(Rfc7515A2Key());
  ASSERT_TRUE(key) << key.status().ToString();
  auto token = SignJws(*key, Alg::kRS256, kRfc7515Payload);
  ASSERT_TRUE(token) << token.status().ToString();
  EXPECT_EQ(*token, kRfc7515A2Token);
}

TEST(Rfc7515, A3Es256TokenVerifiesWithPublicKey) {
  JwsHeader header;
  std::string payload;
  ASSERT_EQ(Describe(VerifyWith(kRfc7515A3Token, PublicPart(Rfc7515A3Key()), &header, &payload)),
            "OK");
  EXPECT_EQ(header.alg, Alg::kES256);
  EXPECT_EQ(payload, kRfc7515Payload);
}

TEST(Rfc7515, A3Es256SignThenVerifySucceeds) {
  auto key = ParseKey(Rfc7515A3Key());
  ASSERT_TRUE(key) << key.status().ToString();
  auto token = SignJws(*key, Alg::kES256, kRfc7515Payload);
  ASSERT_TRUE(token) << token.status().ToString();
  // ECDSA is randomized: the header and payload match the RFC's, the signature does not.
  const std::string prefix(kRfc7515A3Token, std::string_view(kRfc7515A3Token).rfind('.') + 1);
  EXPECT_EQ(token->substr(0, prefix.size()), prefix);
  EXPECT_EQ(Describe(VerifyWith(*token, PublicPart(Rfc7515A3Key()))), "OK");
}

TEST(Rfc7515, A4Es512TokenVerifiesWithPublicKey) {
  JwsHeader header;
  std::string payload;
  ASSERT_EQ(Describe(VerifyWith(kRfc7515A4Token, PublicPart(Rfc7515A4Key()), &header, &payload)),
            "OK");
  EXPECT_EQ(header.alg, Alg::kES512);
  EXPECT_EQ(payload, "Payload");
}

// ---- RFC 7520 section 4 ------------------------------------------------------------------------

TEST(Rfc7520, PayloadIsTheFrodoQuote) {
  EXPECT_EQ(Rfc7520PayloadText(),
            "It\xe2\x80\x99s a dangerous business, Frodo, going out your door. You step onto the "
            "road, and if you don't keep your feet, there\xe2\x80\x99s no knowing where you might "
            "be swept off to.");
}

TEST(Rfc7520, Rs256Figure13VerifiesWithPublicKey) {
  JwsHeader header;
  std::string payload;
  ASSERT_EQ(Describe(VerifyWith(kRfc7520Rs256, PublicPart(Rfc7520RsaKey()), &header, &payload)),
            "OK");
  EXPECT_EQ(header.alg, Alg::kRS256);
  EXPECT_EQ(header.kid, "bilbo.baggins@hobbiton.example");
  EXPECT_EQ(payload, Rfc7520PayloadText());
}

TEST(Rfc7520, Rs256SigningReproducesFigure13) {
  // Figure 10's header is {"alg":"RS256","kid":"bilbo.baggins@hobbiton.example"}: what SignJws
  // writes for this key.
  auto key = ParseKey(Rfc7520RsaKey());
  ASSERT_TRUE(key) << key.status().ToString();
  auto token = SignJws(*key, Alg::kRS256, Rfc7520PayloadText());
  ASSERT_TRUE(token) << token.status().ToString();
  EXPECT_EQ(*token, kRfc7520Rs256);
}

TEST(Rfc7520, Ps384Figure20VerifiesWithKeyWithoutAlg) {
  JwsHeader header;
  std::string payload;
  ASSERT_EQ(Describe(VerifyWith(kRfc7520Ps384, PublicPart(Rfc7520RsaKey()), &header, &payload)),
            "OK");
  EXPECT_EQ(header.alg, Alg::kPS384);
  EXPECT_EQ(payload, Rfc7520PayloadText());
}

TEST(Rfc7520, Ps384Figure20VerifiesWithKeyBoundToPs384) {
  json key = PublicPart(Rfc7520RsaKey());
  key["alg"] = "PS384";
  EXPECT_EQ(Describe(VerifyWith(kRfc7520Ps384, key)), "OK");
}

TEST(Rfc7520, Ps384Figure20WithKeyBoundToPs256IsRejected) {
  // RFC 8725 section 3.1: a key bound to one algorithm is not used with another.
  json key = PublicPart(Rfc7520RsaKey());
  key["alg"] = "PS256";
  EXPECT_EQ(VerifyWith(kRfc7520Ps384, key).reason(), Reason::kAlgKeyMismatch);
}

TEST(Rfc7520, Ps384SignThenVerifySucceeds) {
  auto key = ParseKey(Rfc7520RsaKey());
  ASSERT_TRUE(key) << key.status().ToString();
  auto token = SignJws(*key, Alg::kPS384, Rfc7520PayloadText());
  ASSERT_TRUE(token) << token.status().ToString();
  EXPECT_EQ(Describe(VerifyWith(*token, PublicPart(Rfc7520RsaKey()))), "OK");
}

TEST(Rfc7520, Es512Figure27VerifiesWithPublicKey) {
  JwsHeader header;
  std::string payload;
  ASSERT_EQ(Describe(VerifyWith(kRfc7520Es512, PublicPart(Rfc7520EcKey()), &header, &payload)),
            "OK");
  EXPECT_EQ(header.alg, Alg::kES512);
  EXPECT_EQ(payload, Rfc7520PayloadText());
}

TEST(Rfc7520, Es512SignThenVerifySucceeds) {
  auto key = ParseKey(Rfc7520EcKey());
  ASSERT_TRUE(key) << key.status().ToString();
  auto token = SignJws(*key, Alg::kES512, Rfc7520PayloadText());
  ASSERT_TRUE(token) << token.status().ToString();
  EXPECT_EQ(Describe(VerifyWith(*token, PublicPart(Rfc7520EcKey()))), "OK");
}

TEST(Rfc7520, Hs256Figure35Verifies) {
  JwsHeader header;
  std::string payload;
  ASSERT_EQ(Describe(VerifyWith(kRfc7520Hs256, Rfc7520HmacKey(), &header, &payload)), "OK");
  EXPECT_EQ(header.alg, Alg::kHS256);
  EXPECT_EQ(header.kid, "018c0ae5-4d9b-471b-bfd6-eef314bc7037");
  EXPECT_EQ(payload, Rfc7520PayloadText());
}

TEST(Rfc7520, Hs256SigningReproducesFigure35) {
  auto key = ParseKey(Rfc7520HmacKey());
  ASSERT_TRUE(key) << key.status().ToString();
  auto token = SignJws(*key, Alg::kHS256, Rfc7520PayloadText());
  ASSERT_TRUE(token) << token.status().ToString();
  EXPECT_EQ(*token, kRfc7520Hs256);
}

// ---- RFC 8037 appendix A: Ed25519 --------------------------------------------------------------

TEST(Rfc8037, A1KeyParsesAsPrivateEd25519Key) {
  auto parsed = ParseKey(Rfc8037Key());
  ASSERT_TRUE(parsed) << parsed.status().ToString();
  const Jwk& key = *parsed;
  EXPECT_EQ(key.type(), KeyType::kOkp);
  EXPECT_EQ(key.curve(), Curve::kEd25519);
  EXPECT_TRUE(key.is_private());
  EXPECT_TRUE(key.SignAlgs().Contains(Alg::kEdDSA));
  // A.2: the public key is the same JWK without "d".
  EXPECT_EQ(json::parse(key.ToJson(/*include_private=*/false)), PublicPart(Rfc8037Key()));
  EXPECT_EQ(json::parse(key.ToJson(/*include_private=*/true)), Rfc8037Key());
}

TEST(Rfc8037, A3ThumbprintMatches) {
  auto key = ParseKey(Rfc8037Key());
  auto public_key = ParseKey(PublicPart(Rfc8037Key()));
  ASSERT_TRUE(key && public_key);
  EXPECT_EQ(key->Thumbprint(), kRfc8037Thumbprint);
  EXPECT_EQ(public_key->Thumbprint(), kRfc8037Thumbprint);
}

TEST(Rfc8037, A4SigningReproducesJws) {
  auto key = ParseKey(Rfc8037Key());
  ASSERT_TRUE(key) << key.status().ToString();
  auto token = SignJws(*key, Alg::kEdDSA, kRfc8037Payload);
  ASSERT_TRUE(token) << token.status().ToString();
  EXPECT_EQ(*token, kRfc8037Jws);
}

TEST(Rfc8037, A5JwsVerifiesWithPublicKey) {
  JwsHeader header;
  std::string payload;
  ASSERT_EQ(Describe(VerifyWith(kRfc8037Jws, PublicPart(Rfc8037Key()), &header, &payload)), "OK");
  EXPECT_EQ(header.alg, Alg::kEdDSA);
  EXPECT_EQ(payload, kRfc8037Payload);
}

// ---- RFC 7638 section 3.1 ----------------------------------------------------------------------

TEST(Rfc7638, ExampleKeyThumbprintMatches) {
  auto key = ParseKey(Rfc7638Key());
  ASSERT_TRUE(key) << key.status().ToString();
  EXPECT_EQ(key->Thumbprint(), kRfc7638Thumbprint);
  // Optional members ("alg", "kid") do not enter the thumbprint.
  json bare = Rfc7638Key();
  bare.erase("alg");
  bare.erase("kid");
  auto bare_key = ParseKey(bare);
  ASSERT_TRUE(bare_key) << bare_key.status().ToString();
  EXPECT_EQ(bare_key->Thumbprint(), kRfc7638Thumbprint);
}

// ---- Every published token, one signature bit flipped at a time -------------------------------

TEST(RfcVectors, AnySignatureBitFlipIsRejected) {
  const std::vector<std::pair<std::string, json>> cases = {
      {kRfc7515A1Token, Rfc7515A1Key()},
      {kRfc7515A2Token, PublicPart(Rfc7515A2Key())},
      {kRfc7515A3Token, PublicPart(Rfc7515A3Key())},
      {kRfc7515A4Token, PublicPart(Rfc7515A4Key())},
      {kRfc7520Rs256, PublicPart(Rfc7520RsaKey())},
      {kRfc7520Ps384, PublicPart(Rfc7520RsaKey())},
      {kRfc7520Es512, PublicPart(Rfc7520EcKey())},
      {kRfc7520Hs256, Rfc7520HmacKey()},
      {kRfc8037Jws, PublicPart(Rfc8037Key())},
  };
  for (const auto& [token, key] : cases) {
    ASSERT_EQ(Describe(VerifyWith(token, key)), "OK") << token;
    const size_t dot = token.rfind('.');
    const std::string signature = *Base64UrlDecode(token.substr(dot + 1));
    // One bit per byte, walking through the bit positions, so every byte and every bit position
    // is covered without a verify per bit.
    for (size_t i = 0; i < signature.size(); ++i) {
      std::string flipped = signature;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << (i % 8)));
      const std::string forged = token.substr(0, dot + 1) + Base64UrlEncode(flipped);
      EXPECT_EQ(VerifyWith(forged, key).reason(), Reason::kBadSignature)
          << "byte " << i << " of " << token.substr(0, 40);
    }
  }
}

}  // namespace
}  // namespace tessera::jose
