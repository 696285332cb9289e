"""The simulated protein universe's named panel: modules, contaminant groups, size limits.

``PANEL`` lists the named proteins (gene, UniProt accession and entry name from background
knowledge, module, contaminant group); the rest of a universe is simulated background
(``SIMG…``/``SIMP…``) of at least ``MIN_BACKGROUND`` proteins.
"""

from __future__ import annotations

from typing import NamedTuple

MODULES = ("ev_identity", "msc_identity", "functional", "sasp", "contaminant", "background")
CONTAMINANT_GROUPS = ("plasma", "platelet", "cellular")
MIN_BACKGROUND = 20
MAX_PROTEINS = 50_000


class PanelEntry(NamedTuple):
    """A named protein of the simulated universe (identifiers from background knowledge)."""

    gene: str
    accession: str
    entry_name: str
    module: str
    description: str
    contaminant_group: str = ""


# Accessions of §9 of the research notes are tagged [M] there; the few not listed in §9 are from
# background knowledge. None is verified against UniProt (truth column accession_verified=false).
PANEL: tuple[PanelEntry, ...] = (
    PanelEntry("CD9", "P21926", "CD9_HUMAN", "ev_identity", "CD9 antigen"),
    PanelEntry("CD63", "P08962", "CD63_HUMAN", "ev_identity", "CD63 antigen"),
    PanelEntry("CD81", "P60033", "CD81_HUMAN", "ev_identity", "CD81 antigen"),
    PanelEntry("TSG101", "Q99816", "TS101_HUMAN", "ev_identity", "Tumor susceptibility gene 101"),
    PanelEntry(
        "PDCD6IP", "Q8WUM4", "PDC6I_HUMAN", "ev_identity", "Programmed cell death 6-interacting"
    ),
    PanelEntry("SDCBP", "O00560", "SDCB1_HUMAN", "ev_identity", "Syntenin-1"),
    PanelEntry("FLOT1", "O75955", "FLOT1_HUMAN", "ev_identity", "Flotillin-1"),
    PanelEntry("FLOT2", "Q14254", "FLOT2_HUMAN", "ev_identity", "Flotillin-2"),
    PanelEntry("HSPA8", "P11142", "HSP7C_HUMAN", "ev_identity", "Heat shock cognate 71 kDa"),
    PanelEntry("ANXA2", "P07355", "ANXA2_HUMAN", "ev_identity", "Annexin A2"),
    PanelEntry("ANXA5", "P08758", "ANXA5_HUMAN", "ev_identity", "Annexin A5"),
    PanelEntry("ITGB1", "P05556", "ITB1_HUMAN", "ev_identity", "Integrin beta-1"),
    PanelEntry("MFGE8", "Q08431", "MFGM_HUMAN", "ev_identity", "Lactadherin"),
    PanelEntry("RAB7A", "P51149", "RAB7A_HUMAN", "ev_identity", "Ras-related protein Rab-7a"),
    PanelEntry("CD47", "Q08722", "CD47_HUMAN", "ev_identity", "Leukocyte surface antigen CD47"),
    PanelEntry("ACTB", "P60709", "ACTB_HUMAN", "background", "Actin, cytoplasmic 1"),
    PanelEntry("GAPDH", "P04406", "G3P_HUMAN", "background", "Glyceraldehyde-3-P dehydrogenase"),
    PanelEntry("NT5E", "P21589", "5NTD_HUMAN", "msc_identity", "5'-nucleotidase (CD73)"),
    PanelEntry("THY1", "P04216", "THY1_HUMAN", "msc_identity", "Thy-1 membrane glycoprotein"),
    PanelEntry("ENG", "P17813", "EGLN_HUMAN", "msc_identity", "Endoglin (CD105)"),
    PanelEntry("CD44", "P16070", "CD44_HUMAN", "msc_identity", "CD44 antigen"),
    PanelEntry("MCAM", "P43121", "MUC18_HUMAN", "msc_identity", "Cell surface glycoprotein MUC18"),
    PanelEntry("NRP1", "O14786", "NRP1_HUMAN", "msc_identity", "Neuropilin-1"),
    PanelEntry("PDGFRB", "P09619", "PGFRB_HUMAN", "msc_identity", "PDGF receptor beta"),
    PanelEntry("ITGA5", "P08648", "ITA5_HUMAN", "msc_identity", "Integrin alpha-5"),
    PanelEntry("TNFAIP6", "P98066", "TSG6_HUMAN", "functional", "TNF-inducible gene 6 protein"),
    PanelEntry("TGFB1", "P01137", "TGFB1_HUMAN", "functional", "TGF-beta-1 proprotein"),
    PanelEntry("LGALS1", "P09382", "LEG1_HUMAN", "functional", "Galectin-1"),
    PanelEntry("CD274", "Q9NZQ7", "PD1L1_HUMAN", "functional", "PD-1 ligand 1"),
    PanelEntry("ANXA1", "P04083", "ANXA1_HUMAN", "functional", "Annexin A1"),
    PanelEntry("IDO1", "P14902", "I23O1_HUMAN", "functional", "Indoleamine 2,3-dioxygenase 1"),
    PanelEntry("PTGS2", "P35354", "PGH2_HUMAN", "functional", "Prostaglandin G/H synthase 2"),
    PanelEntry("GSTM2", "P28161", "GSTM2_HUMAN", "functional", "Glutathione S-transferase Mu 2"),
    PanelEntry("HLA-G", "P17693", "HLAG_HUMAN", "functional", "HLA class I antigen, alpha G"),
    PanelEntry("LGALS3", "P17931", "LEG3_HUMAN", "functional", "Galectin-3"),
    PanelEntry("TGFBI", "Q15582", "BGH3_HUMAN", "functional", "TGF-beta-induced protein ig-h3"),
    PanelEntry("LTBP1", "Q14766", "LTBP1_HUMAN", "functional", "Latent TGF-beta-binding 1"),
    PanelEntry("HGF", "P14210", "HGF_HUMAN", "functional", "Hepatocyte growth factor"),
    PanelEntry("IL6", "P05231", "IL6_HUMAN", "sasp", "Interleukin-6"),
    PanelEntry("CXCL8", "P10145", "IL8_HUMAN", "sasp", "Interleukin-8"),
    PanelEntry("CCL2", "P13500", "CCL2_HUMAN", "sasp", "C-C motif chemokine 2"),
    PanelEntry("MIF", "P14174", "MIF_HUMAN", "sasp", "Macrophage migration inhibitory factor"),
    PanelEntry("SERPINE1", "P05121", "PAI1_HUMAN", "sasp", "Plasminogen activator inhibitor 1"),
    PanelEntry("SERPINE2", "P07093", "GDN_HUMAN", "sasp", "Glia-derived nexin"),
    PanelEntry("IGFBP2", "P18065", "IBP2_HUMAN", "sasp", "IGF-binding protein 2"),
    PanelEntry("IGFBP3", "P17936", "IBP3_HUMAN", "sasp", "IGF-binding protein 3"),
    PanelEntry("IGFBP5", "P24593", "IBP5_HUMAN", "sasp", "IGF-binding protein 5"),
    PanelEntry("IGFBP7", "Q16270", "IBP7_HUMAN", "sasp", "IGF-binding protein 7"),
    PanelEntry("GDF15", "Q99988", "GDF15_HUMAN", "sasp", "Growth/differentiation factor 15"),
    PanelEntry("STC1", "P52823", "STC1_HUMAN", "sasp", "Stanniocalcin-1"),
    PanelEntry("MMP1", "P03956", "MMP1_HUMAN", "sasp", "Interstitial collagenase"),
    PanelEntry("MMP3", "P08254", "MMP3_HUMAN", "sasp", "Stromelysin-1"),
    PanelEntry("TIMP1", "P01033", "TIMP1_HUMAN", "sasp", "Metalloproteinase inhibitor 1"),
    PanelEntry("CST3", "P01034", "CYTC_HUMAN", "sasp", "Cystatin-C"),
    PanelEntry("IFITM3", "Q01628", "IFM3_HUMAN", "sasp", "Interferon-induced TM protein 3"),
    PanelEntry("EPHA2", "P29317", "EPHA2_HUMAN", "sasp", "Ephrin type-A receptor 2"),
    PanelEntry("FN1", "P02751", "FINC_HUMAN", "sasp", "Fibronectin"),
    PanelEntry("THBS1", "P07996", "TSP1_HUMAN", "sasp", "Thrombospondin-1"),
    PanelEntry("ALB", "P02768", "ALBU_HUMAN", "contaminant", "Albumin", "plasma"),
    PanelEntry("APOA1", "P02647", "APOA1_HUMAN", "contaminant", "Apolipoprotein A-I", "plasma"),
    PanelEntry("APOA2", "P02652", "APOA2_HUMAN", "contaminant", "Apolipoprotein A-II", "plasma"),
    PanelEntry("APOB", "P04114", "APOB_HUMAN", "contaminant", "Apolipoprotein B-100", "plasma"),
    PanelEntry("APOE", "P02649", "APOE_HUMAN", "contaminant", "Apolipoprotein E", "plasma"),
    PanelEntry("FGA", "P02671", "FIBA_HUMAN", "contaminant", "Fibrinogen alpha chain", "plasma"),
    PanelEntry("FGB", "P02675", "FIBB_HUMAN", "contaminant", "Fibrinogen beta chain", "plasma"),
    PanelEntry("FGG", "P02679", "FIBG_HUMAN", "contaminant", "Fibrinogen gamma chain", "plasma"),
    PanelEntry("C3", "P01024", "CO3_HUMAN", "contaminant", "Complement C3", "plasma"),
    PanelEntry("A2M", "P01023", "A2MG_HUMAN", "contaminant", "Alpha-2-macroglobulin", "plasma"),
    PanelEntry("SERPINA1", "P01009", "A1AT_HUMAN", "contaminant", "Alpha-1-antitrypsin", "plasma"),
    PanelEntry("IGHG1", "P01857", "IGHG1_HUMAN", "contaminant", "Ig gamma-1 constant", "plasma"),
    PanelEntry("PF4", "P02776", "PLF4_HUMAN", "contaminant", "Platelet factor 4", "platelet"),
    PanelEntry(
        "PPBP", "P02775", "CXCL7_HUMAN", "contaminant", "Platelet basic protein", "platelet"
    ),
    PanelEntry("ITGA2B", "P08514", "ITA2B_HUMAN", "contaminant", "Integrin alpha-IIb", "platelet"),
    PanelEntry("H4C1", "P62805", "H4_HUMAN", "contaminant", "Histone H4", "cellular"),
    PanelEntry("CANX", "P27824", "CALX_HUMAN", "contaminant", "Calnexin", "cellular"),
    PanelEntry("HSP90B1", "P14625", "ENPL_HUMAN", "contaminant", "Endoplasmin", "cellular"),
    PanelEntry("GOLGA2", "Q08379", "GOGA2_HUMAN", "contaminant", "Golgin A2 (GM130)", "cellular"),
    PanelEntry("TOMM20", "Q15388", "TOM20_HUMAN", "contaminant", "TOM20 homolog", "cellular"),
    PanelEntry("CYC1", "P08574", "CY1_HUMAN", "contaminant", "Cytochrome c1", "cellular"),
)
SECTION9_GENES = frozenset(
    [
        "CD9",
        "CD63",
        "CD81",
        "TSG101",
        "PDCD6IP",
        "SDCBP",
        "FLOT1",
        "HSPA8",
        "ANXA1",
        "ANXA2",
        "ANXA5",
        "MFGE8",
        "ITGB1",
        "NT5E",
        "THY1",
        "ENG",
        "CD44",
        "MCAM",
        "NRP1",
        "TNFAIP6",
        "TGFB1",
        "LGALS1",
        "LGALS3",
        "CD274",
        "IDO1",
        "GSTM2",
        "HGF",
        "IL6",
        "CXCL8",
        "CCL2",
        "MIF",
        "SERPINE1",
        "SERPINE2",
        "IGFBP2",
        "IGFBP3",
        "IGFBP5",
        "IGFBP7",
        "GDF15",
        "STC1",
        "MMP1",
        "MMP3",
        "TIMP1",
        "CST3",
        "IFITM3",
        "EPHA2",
        "FN1",
        "CANX",
        "HSP90B1",
        "GOLGA2",
        "TOMM20",
        "ALB",
        "APOA1",
        "APOB",
        "APOE",
        "FGA",
        "FGB",
        "FGG",
        "PF4",
        "PPBP",
    ]
)
PANEL_GENES = tuple(entry.gene for entry in PANEL)
