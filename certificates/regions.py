"""Province and city names for certificate subjects (ST, L).

The province comes from the first two digits of the administrative division code inside the
credit code (GB/T 2260); the city from the registered address, which names it.
"""

import re

PROVINCES = {
    "11": "北京市",
    "12": "天津市",
    "13": "河北省",
    "14": "山西省",
    "15": "内蒙古自治区",
    "21": "辽宁省",
    "22": "吉林省",
    "23": "黑龙江省",
    "31": "上海市",
    "32": "江苏省",
    "33": "浙江省",
    "34": "安徽省",
    "35": "福建省",
    "36": "江西省",
    "37": "山东省",
    "41": "河南省",
    "42": "湖北省",
    "43": "湖南省",
    "44": "广东省",
    "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市",
    "51": "四川省",
    "52": "贵州省",
    "53": "云南省",
    "54": "西藏自治区",
    "61": "陕西省",
    "62": "甘肃省",
    "63": "青海省",
    "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
    "71": "台湾省",
    "81": "香港特别行政区",
    "82": "澳门特别行政区",
}
_CITY_RE = re.compile(r"([\u4e00-\u9fff]{1,10}?(?:市|自治州|地区|盟))")


def province_for(credit_code: str) -> str:
    return PROVINCES.get(credit_code[2:4], "中国")


def city_for(address: str, province: str) -> str:
    """The city named in the address (after the province, if the address repeats it)."""
    rest = address.removeprefix(province) if province.endswith(("省", "区")) else address
    match = _CITY_RE.match(rest.strip())
    if match:
        return match.group(1)
    return province  # municipalities and addresses that name no city
