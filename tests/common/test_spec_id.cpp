#define BOOST_TEST_MODULE common_spec_id
#include <boost/test/unit_test.hpp>

#include "common/spec_id.hpp"

BOOST_AUTO_TEST_CASE(spec_ids_are_upper_case_groups)
{
    for (const auto* name : {"SPEC-KIT-933", "SPEC-1", "A-B"})
        BOOST_TEST(common::is_spec_id(name), name);
    for (const auto* name : {"", "SPEC", "spec-kit-1", "SPEC-KIT-", "SPEC--1", "SPEC-KIT-045-mini"})
        BOOST_TEST(!common::is_spec_id(name), name);
}

BOOST_AUTO_TEST_CASE(spec_folders_are_spec_ids_with_an_optional_lower_case_slug)
{
    for (const auto* name : {"SPEC-KIT-933", "SPEC-KIT-045-mini",
                             "SPEC-KIT-025-add-automated-conflict-resolution-with",
                             "SPEC-KIT-070-2nd-try", "SPEC-KIT-1-a-"})
        BOOST_TEST(common::is_spec_folder(name), name);
    for (const auto* name :
         {"", "SPEC-KIT-Mini", "SPEC-KIT-045-Mini", "SPEC-KIT-045_mini", "SPEC-KIT-045-mini_x",
          "spec-kit-045-mini", "SPEC-KIT-045-mi ni", "-mini", "SPEC-mini"})
        BOOST_TEST(!common::is_spec_folder(name), name);
}
