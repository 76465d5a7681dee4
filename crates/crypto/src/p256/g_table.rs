//! The odd multiples G, 3G, 5G, ..., 63G of the P-256 base point as affine coordinates (big-endian
//! hex), for the width-7 NAF of u1. Converted to the field's Montgomery form at compile time; the unit
//! test `fast_p256::tests::g_table_is_the_odd_multiples_of_g` recomputes every entry.

use super::field::Fe;
use super::point::Affine;

const fn affine(x: &str, y: &str) -> Affine {
    Affine {
        x: Fe::from_hex_const(x),
        y: Fe::from_hex_const(y),
    }
}

pub(crate) static G_TABLE: [Affine; 32] = [
    // 1G
    affine(
        "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
        "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
    ),
    // 3G
    affine(
        "5ecbe4d1a6330a44c8f7ef951d4bf165e6c6b721efada985fb41661bc6e7fd6c",
        "8734640c4998ff7e374b06ce1a64a2ecd82ab036384fb83d9a79b127a27d5032",
    ),
    // 5G
    affine(
        "51590b7a515140d2d784c85608668fdfef8c82fd1f5be52421554a0dc3d033ed",
        "e0c17da8904a727d8ae1bf36bf8a79260d012f00d4d80888d1d0bb44fda16da4",
    ),
    // 7G
    affine(
        "8e533b6fa0bf7b4625bb30667c01fb607ef9f8b8a80fef5b300628703187b2a3",
        "73eb1dbde03318366d069f83a6f5900053c73633cb041b21c55e1a86c1f400b4",
    ),
    // 9G
    affine(
        "ea68d7b6fedf0b71878938d51d71f8729e0acb8c2c6df8b3d79e8a4b90949ee0",
        "2a2744c972c9fce787014a964a8ea0c84d714feaa4de823fe85a224a4dd048fa",
    ),
    // 11G
    affine(
        "3ed113b7883b4c590638379db0c21cda16742ed0255048bf433391d374bc21d1",
        "9099209accc4c8a224c843afa4f4c68a090d04da5e9889dae2f8eefce82a3740",
    ),
    // 13G
    affine(
        "177c837ae0ac495a61805df2d85ee2fc792e284b65ead58a98e15d9d46072c01",
        "63bb58cd4ebea558a24091adb40f4e7226ee14c3a1fb4df39c43bbe2efc7bfd8",
    ),
    // 15G
    affine(
        "f0454dc6971abae7adfb378999888265ae03af92de3a0ef163668c63e59b9d5f",
        "b5b93ee3592e2d1f4e6594e51f9643e62a3b21ce75b5fa3f47e59cde0d034f36",
    ),
    // 17G
    affine(
        "47776904c0f1cc3a9c0984b66f75301a5fa68678f0d64af8ba1abce34738a73e",
        "aa005ee6b5b957286231856577648e8381b2804428d5733f32f787ff71f1fcdc",
    ),
    // 19G
    affine(
        "cb6d2861102c0c25ce39b7c17108c507782c452257884895c1fc7b74ab03ed83",
        "58d7614b24d9ef515c35e7100d6d6ce4a496716e30fa3e03e39150752bcecdaa",
    ),
    // 21G
    affine(
        "3250fcf686637c7b2e4ac86eb473bca53a582139f42b1523fd76364e67399e83",
        "42e7c342667d359397b3090d1d7eb88c897cd3c33b566a8215de24a071d48c09",
    ),
    // 23G
    affine(
        "0e91c7239c2640d7d28a3e39d4583fa63c0bc0a5df64a4fe672e573045ca7896",
        "5df65c3b550dba221a22733bb8e0bd6d7e68833575e7a5ae138046543140ad55",
    ),
    // 25G
    affine(
        "3a67e2554b0c0bb685f4f52d8c07fa8441652fc5b76f1b2484a4dc45f200d687",
        "27d0f1872f1fcf4326daf267163afb0d8c188af735a7618aa9ed16b302f79324",
    ),
    // 27G
    affine(
        "184ffa5819d80d51deba2fac4611f378576355bd683e54abf2e201173b0883d1",
        "c0a66e276688f359a4c6d90826cb999545bdeccc63f0491620d242c260906e6f",
    ),
    // 29G
    affine(
        "d6d33adefa195b07a7c36da090853b8cfd8cd1c688b58a41dedd693d1c784def",
        "84aaba16ee195d7e3f78245f558a5dcb09a166ab4b95eded550c124593d1bca6",
    ),
    // 31G
    affine(
        "301d9e502dc7e05da85da026a7ae9aa0fac9db7d52a95b3e3e3f9aa0a1b45b8b",
        "6551b6f6b3061223e0d23c026b017d72298d9ae46887ca61d58db6aea17ee267",
    ),
    // 33G
    affine(
        "9807d699fcd81356fa9aa25b89d9d34ea03b0a533aa872fd65c100f3cb2cd793",
        "c2a59cdccab11bf286a01a4d1d091b2fffe630b96c5878532f6bf92479634af4",
    ),
    // 35G
    affine(
        "d58d4a589ed27d168ffa3ad7326c48ca94e8e1fe92af9700a12d389033bb291a",
        "d45514d102726b8576ea92632dc7fef667271c163b034979a5b0c9c6f586b9d5",
    ),
    // 37G
    affine(
        "419a6a646ddb817dd6b0978611a826aae0d21379246bfd4473a92894502b3348",
        "332544cf1102f584545c9fb1954c2fd513c6d072f3dee1e2db1d6c81b09214b2",
    ),
    // 39G
    affine(
        "22a682f7c3996d4d42014976a179046e547b942dd2d138d4a0c199ddfb2776c4",
        "4f4606b0102223eeb918c9835a54356c979dcc310265b0685347f649cbaa285d",
    ),
    // 41G
    affine(
        "67a6bec240dee0651cf258d2e6cfe8aa6067c5c3d4175a593a7de694995d2fa2",
        "de692b7022d131586c249b49464d44991542c7ee209aca6c49c24ce1441feed5",
    ),
    // 43G
    affine(
        "986ae2506f1ff104d04230861d8f4b498f4bc4c6d009b30f7544dc129b82d28d",
        "003cccc0a6460e0ae328a4d97d3c7b61d86fc6289c189f2525110c441bb07e97",
    ),
    // 45G
    affine(
        "a891d06670bde99b3ecd0f5ddff0672e0f5f609edd29d6d979c78080fae0ba03",
        "b596cd922cbfa1c1419a88c4033c1ce71c6b38f0feb0f2ccefc3edc8166934ae",
    ),
    // 47G
    affine(
        "42c315cc48958708595361ea83071bbcdd5b31583e19066d51d689227b1c0d7c",
        "649a61ce571b95852914d1dfbb7a799074f1a1e1eb87f164d6c4a72bb2f9b1b9",
    ),
    // 49G
    affine(
        "f785b0e098068875bb22b146866e6c0528fb7ea9758fd4fd7d228ce6a5674455",
        "73fdb0bf6080da6ee15c767f0d9f5b414b04b6fd5f3aa60ae7bc490c10d62408",
    ),
    // 51G
    affine(
        "672c4a514d9de43eaadee6863c1d68bc95f7eb56e81008ff044360f0018e22b1",
        "548c7e9196a25bfe611de5a4ace203f7136246589704d9419935399191f37104",
    ),
    // 53G
    affine(
        "6f01bd49c9d952455a47802254b88039982b1ca78de9b983f126ec9f7449d036",
        "1562080ff1d5deab11a0f21a608776cea78551bfc3749b08360233dd989e17db",
    ),
    // 55G
    affine(
        "079dba7ba068c9267571a109fe7fea2cc2a595b762c1eadadec1dff7df6e60a0",
        "dc1e19b743d4d1811d223f9d2a9588ab83eb2df35751a397fb0da5aeb4824dea",
    ),
    // 57G
    affine(
        "c116e30ebb4d2865126d45a8ea907f86289d406e2d6c6bd88abd97b1d0f56077",
        "e9478823c35b30c2b8b16d9bb13b87657d5bd5e89e59c8c5313fd7fda410c206",
    ),
    // 59G
    affine(
        "665f1a6ffe0c6437765b2784fca9bdf7e50941119e8dc8eca2b6ea0e0faa4b45",
        "490e2ca49ffd18c26e8cca29f7eac37f7dede5bf81e215bc6e25a6602b7f4ccf",
    ),
    // 61G
    affine(
        "059ccb19edd3da9a2d3a6b3d8d9900013e7910a08b724fd55939ac380d32af0e",
        "bb6ad7eccad49159da65281b9345638e1621f7a33956cecd928e1e3c97fe91d1",
    ),
    // 63G
    affine(
        "6a9501d85bf5dc802a1f28a08acc7d8fdf53c8af01a7cd3832a290825d8bdac1",
        "ca640ad19347374381c6c6e44a3c56a3f8461b5c697a6f3530aff53d5f1ef1a3",
    ),
];
